// Gatehouse passkeys: the WebAuthn calls the pages cannot make without
// JavaScript. Each form marked data-passkey gets its options from the
// server, asks the browser's authenticator, puts the credential (as JSON)
// in the form's "credential" field and submits the form as usual; the
// server does every check. No framework, no inline script (the pages' CSP).
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return; // the forms stay hidden or say why they cannot work
  }

  function toBytes(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return { type: d.type, id: toBytes(d.id), transports: d.transports };
    });
  }

  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBytes(pk.challenge);
    pk.user.id = toBytes(pk.user.id);
    pk.excludeCredentials = descriptors(pk.excludeCredentials);
    return { publicKey: pk };
  }

  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBytes(pk.challenge);
    pk.allowCredentials = descriptors(pk.allowCredentials);
    return { publicKey: pk };
  }

  function credentialJSON(c) {
    var r = c.response, response = { clientDataJSON: toB64(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64(r.authenticatorData);
      response.signature = toB64(r.signature);
      if (r.userHandle) response.userHandle = toB64(r.userHandle);
    }
    return JSON.stringify({
      id: c.id, rawId: toB64(c.rawId), type: c.type, response: response,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {}
    });
  }

  function fail(form, message) {
    var p = form.querySelector("[data-passkey-error]");
    if (p) {
      p.textContent = message;
      p.hidden = false;
    }
    var b = form.querySelector("button");
    if (b) b.disabled = false;
  }

  // begin asks the server for a ceremony's options.
  function begin(form, kind) {
    var csrf = form.querySelector("input[name=csrf_token]").value;
    var url = { register: "/me/passkeys/register/begin", login: "/login/passkey/begin", mfa: "/login/mfa/passkey/begin" }[kind];
    var init = { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } };
    if (kind === "mfa") { // the sign-in's mfa_token is in an HttpOnly cookie: a form post
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = new URLSearchParams({ csrf_token: csrf }).toString();
    }
    return fetch(url, init).then(function (res) {
      return res.json().then(function (body) {
        if (!res.ok) {
          var err = new Error(body.message || "The server refused: " + res.status);
          err.code = body.error;
          throw err;
        }
        return body;
      });
    });
  }

  function run(form) {
    var kind = form.getAttribute("data-passkey");
    var b = form.querySelector("button");
    if (b) b.disabled = true;
    begin(form, kind).then(function (options) {
      return kind === "register"
        ? navigator.credentials.create(creationOptions(options))
        : navigator.credentials.get(requestOptions(options));
    }).then(function (credential) {
      form.querySelector("input[name=credential]").value = credentialJSON(credential);
      form.submit();
    }).catch(function (err) {
      if (err.code === "reauthentication_required") {
        window.location.assign("/security?reauth=1");
        return;
      }
      if (err.name === "NotAllowedError") {
        fail(form, "The passkey was not used (cancelled, timed out, or not allowed). Try again.");
        return;
      }
      if (err.name === "InvalidStateError") {
        fail(form, "This authenticator holds a passkey for this account already.");
        return;
      }
      fail(form, err.message || String(err));
    });
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!form.reportValidity || form.reportValidity()) run(form);
    });
  });
})();
