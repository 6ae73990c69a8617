// Gatehouse passkeys: WebAuthn ceremonies for the account and sign-in
// pages. Served from the binary as /oauth2/static/passkey.js (script-src
// 'self', connect-src 'self'); pages hold no inline script. It acts on two
// kinds of forms.
//
// Adding a passkey (the account page), JSON both ways:
//
//   <form data-passkey="register" data-begin="URL" data-finish="URL">
//     <input type="hidden" name="csrf_token" value="...">
//     <input name="name">  (and any other fields, sent along)
//     <p data-passkey-status></p>
//   </form>
//
//   On submit it POSTs the fields but csrf_token as JSON to data-begin,
//   with the token in the X-CSRF-Token header, and receives
//   {"options": {"publicKey": ...}, "state": "..."}; it calls
//   navigator.credentials.create, POSTs {"state", "credential", ...fields}
//   to data-finish and follows the {"redirect"} of the answer, or shows
//   its {"error"} in the data-passkey-status element.
//
// Signing in (the login page and the second step):
//
//   <form method="post" action="FINISH" data-passkey-login
//         data-passkey-begin="URL" [data-passkey-conditional]>
//     <input type="hidden" name="credential">  (and the form's fields)
//     <button type="button" data-passkey-button>...</button>
//   </form>
//
//   On a click of the button it POSTs the form's fields (urlencoded) to
//   data-passkey-begin and receives the request options
//   ({"publicKey": ...}); it calls navigator.credentials.get, puts the
//   credential as JSON in the credential input and submits the form. With
//   data-passkey-conditional it also starts a conditional request at
//   once, when the browser offers one
//   (PublicKeyCredential.isConditionalMediationAvailable): the passkeys
//   then appear in the autofill of the input marked
//   autocomplete="username webauthn".
//
// Binary members travel as base64url in both directions.
(function () {
  "use strict";

  function toBuffer(s) {
    s = String(s).replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toBase64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeDescriptors(list) {
    return (list || []).map(function (c) {
      var d = { type: c.type, id: toBuffer(c.id) };
      if (c.transports) d.transports = c.transports;
      return d;
    });
  }

  // creationOptions turns the server's JSON creation options into what
  // navigator.credentials.create takes.
  function creationOptions(o) {
    var pk = Object.assign({}, o.publicKey);
    pk.challenge = toBuffer(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: toBuffer(pk.user.id) });
    if (pk.excludeCredentials) pk.excludeCredentials = decodeDescriptors(pk.excludeCredentials);
    return { publicKey: pk };
  }

  function requestOptions(o) {
    var pk = Object.assign({}, o.publicKey);
    pk.challenge = toBuffer(pk.challenge);
    if (pk.allowCredentials) pk.allowCredentials = decodeDescriptors(pk.allowCredentials);
    return { publicKey: pk };
  }

  // credentialJSON is the PublicKeyCredential in its JSON form (as
  // toJSON() gives it where browsers have it).
  function credentialJSON(cred) {
    var r = cred.response, out = {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      if (r.userHandle) out.response.userHandle = toBase64url(r.userHandle);
    }
    return out;
  }

  function fields(form) {
    var out = {};
    new FormData(form).forEach(function (v, k) {
      if (k !== "csrf_token" && typeof v === "string") out[k] = v;
    });
    return out;
  }

  function csrf(form) {
    var el = form.querySelector('input[name="csrf_token"]');
    return el ? el.value : "";
  }

  // answer reads a response: its JSON, or an Error with the server's
  // {"error"} or status.
  function answer(resp) {
    return resp.json().catch(function () { return {}; }).then(function (data) {
      if (!resp.ok) throw new Error(data.error || "The server refused the request (" + resp.status + ").");
      return data;
    });
  }

  function postJSON(url, token, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token, "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(answer);
  }

  function status(form, text) {
    var el = form.querySelector("[data-passkey-status]");
    if (el) el.textContent = text;
  }

  function explain(err) {
    if (err && err.name === "NotAllowedError") return "The passkey request was cancelled or timed out.";
    if (err && err.name === "InvalidStateError") return "This authenticator holds a passkey for this account already.";
    return (err && err.message) || "Something went wrong.";
  }

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials);
  }

  // register runs the add-a-passkey round: begin, create, finish.
  function register(form) {
    var token = csrf(form), extra = fields(form);
    return postJSON(form.getAttribute("data-begin"), token, extra).then(function (begun) {
      return navigator.credentials.create(creationOptions(begun.options)).then(function (cred) {
        if (!cred) throw new Error("No passkey was made.");
        var body = Object.assign({}, extra, { state: begun.state, credential: credentialJSON(cred) });
        return postJSON(form.getAttribute("data-finish"), token, body);
      });
    }).then(function (done) {
      status(form, done.message || "Done.");
      if (done.redirect) window.location.assign(done.redirect);
    });
  }

  function setUpRegister(form) {
    if (!supported()) {
      status(form, "This browser cannot use passkeys.");
      var b = form.querySelector("button");
      if (b) b.disabled = true;
      return;
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      status(form, "Follow your browser's prompt…");
      register(form).catch(function (err) { status(form, explain(err)); });
    });
  }

  var conditional = null; // the AbortController of a running conditional request

  // signIn asks for a passkey (conditionally: through the autofill) and
  // submits the form with it.
  function signIn(form, mediation, signal) {
    var body = new URLSearchParams();
    new FormData(form).forEach(function (v, k) {
      if (k !== "credential" && typeof v === "string") body.append(k, v);
    });
    return fetch(form.getAttribute("data-passkey-begin"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
      body: body
    }).then(answer).then(function (options) {
      var opts = requestOptions(options);
      if (mediation) opts.mediation = mediation;
      if (signal) opts.signal = signal;
      return navigator.credentials.get(opts);
    }).then(function (cred) {
      if (!cred) throw new Error("No passkey was chosen.");
      form.querySelector('input[name="credential"]').value = JSON.stringify(credentialJSON(cred));
      form.submit();
    });
  }

  function setUpLogin(form) {
    var button = form.querySelector("[data-passkey-button]");
    if (!supported()) {
      if (button) button.hidden = true;
      return;
    }
    if (button) {
      button.addEventListener("click", function () {
        if (conditional) { conditional.abort(); conditional = null; }
        signIn(form).catch(function (err) { status(form, explain(err)); });
      });
    }
    if (form.hasAttribute("data-passkey-conditional") &&
        typeof PublicKeyCredential.isConditionalMediationAvailable === "function") {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok || conditional) return;
        conditional = new AbortController();
        signIn(form, "conditional", conditional.signal).catch(function () {
          // Cancelled by a click on the button, or nothing chosen: the
          // page stays as it is.
        });
      });
    }
  }

  function start() {
    var i, forms = document.querySelectorAll('form[data-passkey="register"]');
    for (i = 0; i < forms.length; i++) setUpRegister(forms[i]);
    forms = document.querySelectorAll("form[data-passkey-login]");
    for (i = 0; i < forms.length; i++) setUpLogin(forms[i]);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
