// Second factors: asks the browser for a passkey (navigator.credentials.create/get) with the options the page carries,
// and sends its answer, base64url-encoded, with the form; a print button for recovery codes.
(function () {
  "use strict";

  function toBytes(value) {
    const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  function toBase64url(buffer) {
    let binary = "";
    new Uint8Array(buffer).forEach((byte) => { binary += String.fromCharCode(byte); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withCredentialIds(list) {
    return (list || []).map((descriptor) => ({ ...descriptor, id: toBytes(descriptor.id) }));
  }

  function creationOptions(options) {
    return {
      ...options,
      challenge: toBytes(options.challenge),
      user: { ...options.user, id: toBytes(options.user.id) },
      excludeCredentials: withCredentialIds(options.excludeCredentials),
    };
  }

  function requestOptions(options) {
    return { ...options, challenge: toBytes(options.challenge), allowCredentials: withCredentialIds(options.allowCredentials) };
  }

  function credentialJSON(credential) {
    const response = credential.response;
    const json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toBase64url(response.clientDataJSON) },
    };
    if (credential.authenticatorAttachment) {
      json.authenticatorAttachment = credential.authenticatorAttachment;
    }
    if (response.attestationObject) {
      json.response.attestationObject = toBase64url(response.attestationObject);
      if (typeof response.getTransports === "function") {
        json.response.transports = response.getTransports();
      }
    } else {
      json.response.authenticatorData = toBase64url(response.authenticatorData);
      json.response.signature = toBase64url(response.signature);
      if (response.userHandle) {
        json.response.userHandle = toBase64url(response.userHandle);
      }
    }
    return JSON.stringify(json);
  }

  async function ceremony(form) {
    const status = form.querySelector("[data-passkey-status]");
    const button = form.querySelector("button[type=submit]");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      status.textContent = form.dataset.unsupported;
      return;
    }
    const options = JSON.parse(document.getElementById(form.dataset.options).textContent);
    button.disabled = true;
    status.textContent = "";
    try {
      const credential = form.dataset.passkey === "create"
        ? await navigator.credentials.create({ publicKey: creationOptions(options) })
        : await navigator.credentials.get({ publicKey: requestOptions(options) });
      form.querySelector("input[name=credential]").value = credentialJSON(credential);
      form.submit();
    } catch (error) {
      status.textContent = form.dataset.failed;
      button.disabled = false;
    }
  }

  document.querySelectorAll("form[data-passkey]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      ceremony(form);
    });
  });

  document.querySelectorAll("button[data-print]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  });
})();
