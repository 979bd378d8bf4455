// The developer console's copy buttons (routers/pages/developer.py). Each button names
// the element whose text it copies (data-copy) and a status to say it did (data-status).
// Without this script the buttons stay hidden and the text is there to select.
(function () {
  "use strict";

  function say(button, text) {
    var status = document.getElementById(button.getAttribute("data-status"));
    if (status) {
      status.textContent = text;
    }
  }

  function select(target) {
    var range = document.createRange();
    range.selectNodeContents(target);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copy(button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) {
      return;
    }
    var text = target.textContent.trim();
    var failed = function () {
      select(target);
      say(button, "Could not copy: the text is selected, copy it with your keyboard.");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () {
        say(button, "Copied.");
      }, failed);
    } else {
      failed();
    }
  }

  var buttons = document.querySelectorAll("button[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      copy(button);
    });
  });
}());
