// The web panels' script (served as /panels/panel.js; see functions/install/src/panels.rs).
//
// In the panel (SuperOffice's iframe): "Sign in" opens the app's ordinary sign-in in a pop-up,
// because SuperOffice's sign-in pages cannot load in an iframe. The pop-up ends on
// /panels/handoff, which posts a one-time code back here; the code is redeemed by a same-origin
// POST that sets the panel's own cookie, and the panel reloads.
//
// In the pop-up (/panels/handoff): post the code to the window that opened it, for the app's own
// origin only, then close.
//
// No inline script anywhere (the pages' CSP allows only 'self'), no eval, nothing from elsewhere.
(function () {
  'use strict';

  var KIND = 'soapp-panel-hand-off';
  var ORIGIN = window.location.origin;

  function show(id) {
    var ids = ['waiting', 'popup-blocked', 'sign-in-failed', 'signed-in-elsewhere', 'no-opener'];
    for (var i = 0; i < ids.length; i++) {
      var el = document.getElementById(ids[i]);
      if (el) {
        el.hidden = ids[i] !== id;
      }
    }
  }

  // The pop-up: hand the code to the panel, which is a page of this same origin.
  var handOff = document.getElementById('handoff');
  if (handOff) {
    var code = handOff.getAttribute('data-code');
    if (!code) {
      return;
    }
    if (window.opener && !window.opener.closed) {
      try {
        // The exact origin: if the opener is anything but a page of the app, nothing is delivered.
        window.opener.postMessage({ kind: KIND, code: code }, ORIGIN);
        window.close();
      } catch (e) {
        // Fall through to the message below.
      }
    }
    // Still here: no opener (a tab opened without one), or the browser would not close it.
    window.setTimeout(function () {
      show('no-opener');
    }, 300);
    return;
  }

  // The panel.
  var panel = document.getElementById('panel-sign-in');
  if (!panel) {
    return;
  }
  var ctx = panel.getAttribute('data-ctx');
  var signIn = panel.getAttribute('data-sign-in');
  var popup = null;
  var redeeming = false;

  var button = document.getElementById('sign-in');
  button.addEventListener('click', function (event) {
    event.preventDefault();
    popup = window.open(signIn, 'soapp-panel-sign-in', 'popup,width=520,height=680');
    if (popup) {
      show('waiting');
    } else {
      show('popup-blocked');
    }
  });

  window.addEventListener('message', function (event) {
    // Only the app's own pages (the hand-off page) may hand a code to the panel.
    if (event.origin !== ORIGIN || redeeming) {
      return;
    }
    var data = event.data;
    if (!data || data.kind !== KIND || typeof data.code !== 'string') {
      return;
    }
    redeeming = true;
    var body = new URLSearchParams();
    body.set('code', data.code);
    body.set('ctx', ctx);
    fetch('/panels/session', {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      body: body
    }).then(function (response) {
      redeeming = false;
      if (response.status === 204) {
        window.location.reload();
      } else if (response.status === 409) {
        show('signed-in-elsewhere');
      } else {
        show('sign-in-failed');
      }
    }, function () {
      redeeming = false;
      show('sign-in-failed');
    });
  });
})();
