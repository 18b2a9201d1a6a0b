// Shows why the last login was refused (the server redirects here with ?error=…).
/* global document, location, URLSearchParams */
'use strict';
(function () {
  var reason = new URLSearchParams(location.search).get('error');
  if (!reason) return;
  var p = document.getElementById('login-error');
  p.textContent =
    reason === 'throttled'
      ? 'Too many failed logins. Wait a few minutes, then try again.'
      : 'Wrong user name or password.';
  p.hidden = false;
})();
