// Passkeys on the sign-in pages: the login page's "Sign in with a passkey" button and the
// account page's "Add a passkey" button. Without JavaScript or WebAuthn the buttons stay
// hidden and the pages work as before. The server makes and checks every ceremony; this
// file only carries its options to the browser's authenticator and the answer back in a
// form post (so the post carries the page's CSRF token and cookies as any other form).
'use strict';

(function () {
  function toBytes(text) {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = '';
    for (let i = 0; i < bytes.length; i += 1) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // PublicKeyCredential as the JSON of WebAuthn Level 3 (what toJSON() gives, written out
  // for browsers without it).
  function credentialJSON(credential) {
    const response = credential.response;
    const out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) },
    };
    if (credential.authenticatorAttachment) {
      out.authenticatorAttachment = credential.authenticatorAttachment;
    }
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      if (typeof response.getTransports === 'function') {
        out.response.transports = response.getTransports();
      }
    } else {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      if (response.userHandle) out.response.userHandle = toText(response.userHandle);
    }
    return out;
  }

  async function askServer(url, body) {
    const answer = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'same-origin',
    });
    const data = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new Error(data.message || `the server answered ${answer.status}`);
    return data;
  }

  function wire(box, ceremony) {
    const button = box.querySelector('button[type="button"]');
    const status = box.querySelector('[role="status"]');
    box.hidden = false;
    button.addEventListener('click', async () => {
      status.textContent = '';
      button.disabled = true;
      try {
        const { options, challenge } = await ceremony.options(box);
        const credential = await ceremony.run(options);
        ceremony.post(box, { challenge, credential: JSON.stringify(credentialJSON(credential)) });
      } catch (error) {
        status.textContent = `${ceremony.failed}: ${error.message}`;
        button.disabled = false;
      }
    });
  }

  // The login page's box carries what its form needs in data attributes.
  const signIn = {
    failed: 'Signing in with a passkey did not work',
    options(box) {
      const token = box.dataset.mfaToken;
      return askServer(box.dataset.options, token ? { mfaToken: token } : {});
    },
    post(box, answer) {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = box.dataset.action;
      form.hidden = true;
      const fields = {
        csrf_token: box.dataset.csrf, next: box.dataset.next,
        mfa_token: box.dataset.mfaToken, ...answer,
      };
      for (const [name, value] of Object.entries(fields)) {
        const input = document.createElement('input');
        input.type = 'hidden';
        input.name = name;
        input.value = value || '';
        form.appendChild(input);
      }
      document.body.appendChild(form);
      form.submit();
    },
    run(options) {
      options.challenge = toBytes(options.challenge);
      (options.allowCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
      return navigator.credentials.get({ publicKey: options });
    },
  };

  // The account page's box is its form.
  const register = {
    failed: 'Adding a passkey did not work',
    options(form) {
      return askServer(form.dataset.options, { csrfToken: form.elements.csrf_token.value });
    },
    post(form, answer) {
      form.elements.challenge.value = answer.challenge;
      form.elements.credential.value = answer.credential;
      form.submit();
    },
    run(options) {
      options.challenge = toBytes(options.challenge);
      options.user.id = toBytes(options.user.id);
      (options.excludeCredentials || []).forEach((c) => { c.id = toBytes(c.id); });
      return navigator.credentials.create({ publicKey: options });
    },
  };

  if (!window.PublicKeyCredential || !navigator.credentials) return;
  const login = document.getElementById('passkey');
  if (login) wire(login, signIn);
  const add = document.getElementById('add-passkey');
  if (add) wire(add, register);
}());
