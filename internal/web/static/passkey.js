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
// Signing in (the login page and the second step): the same protocol,
// with navigator.credentials.get:
//
//   <form method="post" action="FINISH" data-passkey="login"
//         data-begin="URL" data-finish="URL">
//     <input type="hidden" name="csrf_token" value="...">
//     <input type="hidden" name="request" value="...">  (and any other fields)
//     <button type="submit">...</button>
//     <p data-passkey-status></p>
//   </form>
//
//   When the page also has an input marked autocomplete="... webauthn"
//   (the username field of the login page), a conditional request starts
//   at once where the browser offers one
//   (PublicKeyCredential.isConditionalMediationAvailable): the passkeys
//   then appear in that input's autofill; a submit of the form cancels it
//   and asks with the browser's prompt.
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

  // ceremony runs one begin, browser, finish round for the form: create
  // for data-passkey="register", get for data-passkey="login".
  function ceremony(form, mediation, signal) {
    var kind = form.getAttribute("data-passkey"), token = csrf(form), extra = fields(form);
    return postJSON(form.getAttribute("data-begin"), token, extra).then(function (begun) {
      var p;
      if (kind === "register") {
        p = navigator.credentials.create(creationOptions(begun.options));
      } else {
        var opts = requestOptions(begun.options);
        if (mediation) opts.mediation = mediation;
        if (signal) opts.signal = signal;
        p = navigator.credentials.get(opts);
      }
      return p.then(function (cred) {
        if (!cred) throw new Error(kind === "register" ? "No passkey was made." : "No passkey was chosen.");
        var body = Object.assign({}, extra, { state: begun.state, credential: credentialJSON(cred) });
        return postJSON(form.getAttribute("data-finish"), token, body);
      });
    }).then(function (done) {
      status(form, done.message || "Done.");
      if (done.redirect) window.location.assign(done.redirect);
      return done;
    });
  }

  var conditional = null; // the AbortController of a running conditional request

  function setUp(form) {
    if (!supported()) {
      status(form, "This browser cannot use passkeys.");
      var b = form.querySelector("button");
      if (b) b.disabled = true;
      return;
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (conditional) { conditional.abort(); conditional = null; }
      status(form, "Follow your browser's prompt…");
      ceremony(form).catch(function (err) { status(form, explain(err)); });
    });
    if (form.getAttribute("data-passkey") === "login" && !conditional &&
        document.querySelector('input[autocomplete~="webauthn"]') &&
        typeof PublicKeyCredential.isConditionalMediationAvailable === "function") {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok || conditional) return;
        var mine = conditional = new AbortController();
        ceremony(form, "conditional", mine.signal).catch(function (err) {
          // Cancelled by a submit of the form, or nothing chosen: the page
          // stays as it is.
          if (conditional === mine && err && err.name !== "AbortError") status(form, explain(err));
        });
      });
    }
  }

  function start() {
    var forms = document.querySelectorAll('form[data-passkey="register"], form[data-passkey="login"]');
    for (var i = 0; i < forms.length; i++) setUp(forms[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
