// The example single-page app of Ostiary's backend-for-frontend (`ostiary bff`).
//
// The app never sees a token. The BFF keeps the access and refresh tokens on the server and
// gives the browser only an HttpOnly session cookie, which JavaScript cannot read. The app asks
// the BFF who is signed in (GET /bff/user) and calls APIs through it (/api/<prefix>/...), which
// adds the access token on the way. Every such call carries the header `X-CSRF: 1`: a header a
// cross-site form cannot send, and one a cross-origin fetch cannot send without a CORS preflight
// that the BFF does not grant.
'use strict';

(function () {
  const CSRF_HEADERS = { 'X-CSRF': '1' };

  function element(id) {
    return document.getElementById(id);
  }

  function setStatus(text) {
    element('status').textContent = text;
  }

  function showSignedOut() {
    element('signed-in').hidden = true;
    element('signed-out').hidden = false;
    setStatus('Signed out.');
  }

  function showSignedIn(claims) {
    const name = claims.preferred_username || claims.sub;
    // textContent, never innerHTML: claims are data, not markup.
    element('user').textContent = 'Signed in as ' + name;
    element('signed-out').hidden = true;
    element('signed-in').hidden = false;
    setStatus('');
  }

  // Asks the BFF who is signed in and shows it; answers whether someone is.
  async function loadUser() {
    let response;
    try {
      response = await fetch('/bff/user', {
        headers: CSRF_HEADERS,
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch (error) {
      setStatus('The BFF is unreachable: ' + error.message);
      return false;
    }
    if (response.status === 200) {
      showSignedIn(await response.json());
      return true;
    }
    if (response.status === 401) {
      showSignedOut();
    } else {
      setStatus('Unexpected answer from /bff/user: HTTP ' + response.status);
    }
    return false;
  }

  async function callApi() {
    const result = element('api-result');
    result.textContent = 'Calling /api/orders/orders\u2026';
    let response;
    try {
      response = await fetch('/api/orders/orders', {
        headers: CSRF_HEADERS,
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch (error) {
      result.textContent = 'The request failed: ' + error.message;
      return;
    }
    const text = await response.text();
    // A 401 is the BFF's when the session ended (signed out elsewhere, expired, revoked), or
    // the API's own: ask the BFF which.
    if (response.status === 401 && !(await loadUser())) {
      result.textContent = '';
      return;
    }
    let shown = text;
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch (_) {
      // Not JSON: show it as it came.
    }
    result.textContent = response.ok ? shown : 'HTTP ' + response.status + '\n' + shown;
  }

  function start() {
    element('call-api').addEventListener('click', callApi);
    loadUser();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
