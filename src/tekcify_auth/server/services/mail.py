"""Mail: messages rendered from templates and queued in the database.

:func:`enqueue` renders a message (plain text and HTML, from ``templates/mail/``) and adds
it to ``mail_queue`` inside the caller's transaction: the message exists exactly when the
action that sends it committed, and nothing is sent on the request path. The mail sender
(``services/mail_sender.py``) delivers the queue: by SMTP when ``TEKCIFY_SMTP_URL`` is
set, otherwise as ``.eml`` files in ``<data dir>/outbox/``.

A template pair is ``mail/<kind>.txt`` and ``mail/<kind>.html``. The text one starts with
a ``Subject: ...`` line and a blank line. Both get ``values`` plus ``base_url`` (the
server's public URL, with which every link starts) and ``product``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from ..db.security import MailMessage
from ..db.types import new_id

__all__ = ["PRODUCT", "Rendered", "enqueue", "render"]

PRODUCT: Final = "Tekcify"
_TEMPLATES: Final = Path(__file__).resolve().parent.parent / "templates" / "mail"
_environment: Final = Environment(
    loader=FileSystemLoader(_TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    auto_reload=False,
    keep_trailing_newline=True,
)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered message: its subject, plain text and HTML."""

    subject: str
    text: str
    html: str


def _one_line(value: str, what: str) -> str:
    if any(c in value for c in "\r\n\x00\x85\u2028\u2029"):
        raise ValueError(f"a mail {what} may not contain line breaks")
    return value


def render(kind: str, values: dict[str, Any], *, base_url: str) -> Rendered:
    """Render the ``kind`` templates with ``values`` (and ``base_url``, ``product``)."""
    context = {**values, "base_url": base_url.rstrip("/"), "product": PRODUCT}
    text = _environment.get_template(f"{kind}.txt").render(context)
    # The subject line rendered alone: a value with a line break would otherwise end the
    # line early and spill into the body unseen, where it must be refused.
    assert _environment.loader is not None
    source = _environment.loader.get_source(_environment, f"{kind}.txt")[0]
    first = _environment.from_string(source.partition("\n")[0]).render(context)
    if not first.startswith("Subject: "):
        raise ValueError(f"mail/{kind}.txt must start with a 'Subject: ' line")
    subject = _one_line(first.removeprefix("Subject: "), "subject").strip()
    body = text.partition("\n")[2]
    html = _environment.get_template(f"{kind}.html").render({**context, "subject": subject})
    return Rendered(subject=subject, text=body.lstrip("\n"), html=html)


def enqueue(
    db: Session,
    *,
    kind: str,
    to: str,
    values: dict[str, Any],
    base_url: str,
    now: datetime,
) -> str:
    """Render a ``kind`` message to ``to`` and add it to the queue in ``db``'s transaction;
    returns its id.

    ``to`` is an address already checked by ``emails.normalise_email``; a line break in
    it or in the subject raises :class:`ValueError` (no header injection).
    """
    rendered = render(kind, values, base_url=base_url)
    message_id = new_id()
    db.add(MailMessage(
        id=message_id, kind=kind, to_address=_one_line(to, "recipient"),
        subject=rendered.subject, text_body=rendered.text, html_body=rendered.html,
        created_at=now, next_attempt_at=now, attempts=0,
    ))
    return message_id
