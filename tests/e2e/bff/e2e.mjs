// End-to-end browser test of `ostiary bff` with the example SPA (examples/spa), in Debian's
// headless Chromium driven by playwright-core. run.sh starts Ostiary, the example resource
// server and the BFF, then runs this with their URLs in the environment:
//
//   BFF_ORIGIN    the BFF's (and SPA's) origin, e.g. http://127.0.0.1:8081
//   AS_ORIGIN     Ostiary's issuer, e.g. http://127.0.0.1:8080
//   E2E_USERNAME, E2E_PASSWORD   the user to sign in as (default alice / correct horse battery)
//   CLIENT_ID     the BFF's client id (optional: then the API's `for_client` is checked)
//   CHROMIUM      the browser (default /usr/bin/chromium; never downloaded)
//   E2E_ARTIFACTS a folder for screenshots and the captured traffic on failure (optional)
//
// The flow: signed out -> Sign in -> Ostiary's login form -> back signed in -> call the API
// through the BFF -> sign out (confirming at Ostiary if it asks) -> signed out. Throughout,
// every request and response the browser sees is captured, and after each step
// document.cookie, localStorage, sessionStorage, every cookie of the browser and the page HTML
// are read: no token may appear in any of them (a JWT-shaped string anywhere, or access_token /
// refresh_token / id_token as keys of a JSON body). The session cookie's attributes are checked.
// Attacks, in the same browser: calls without the CSRF header; from a cross-site page
// (http://localhost:PORT) and a same-site cross-origin one (http://127.0.0.1:PORT), which does
// get the SameSite=Strict cookie along: form posts to the API and to /bff/logout, a navigation
// to the API, credentialed fetches; after sign-out, Ostiary's session is gone too, return_to
// cannot lead off the BFF's origin, and the old session cookie replayed from Node gets 401.
//
// Prints one line of JSON with every check (and notes, facts that are no failure) and then
// "N passed, N failed"; exits 1 when any check failed.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';

function setting(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`e2e: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const BFF = setting('BFF_ORIGIN').replace(/\/$/, '');
const AS = setting('AS_ORIGIN').replace(/\/$/, '');
const USERNAME = setting('E2E_USERNAME', 'alice');
const PASSWORD = setting('E2E_PASSWORD', 'correct horse battery');
const CHROMIUM = setting('CHROMIUM', '/usr/bin/chromium');
const CLIENT_ID = process.env.CLIENT_ID || null;
const ARTIFACTS = process.env.E2E_ARTIFACTS || null;
const STEP_TIMEOUT_MS = 15_000;
const TOTAL_TIMEOUT_MS = 180_000;
const SESSION_COOKIE = '__Host-ostiary-bff';

// The test stops by itself, whatever hangs.
setTimeout(() => {
  check(`the test finished within ${TOTAL_TIMEOUT_MS / 1000} s`, false);
  summary();
  process.exit(3);
}, TOTAL_TIMEOUT_MS).unref();

// ---------------------------------------------------------------------------------------------
// Checks: each is recorded with its detail; the flow stops only where it cannot go on.

const checks = [];

function check(name, ok, detail) {
  checks.push({ name, ok: Boolean(ok), ...(detail === undefined ? {} : { detail }) });
  console.error(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail === undefined ? '' : ' ' + JSON.stringify(detail)}`);
  return Boolean(ok);
}

// Facts worth knowing that are no failure, e.g. a design choice with a visible effect.
const notes = [];

function note(text) {
  notes.push(text);
  console.error(`note ${text}`);
}

class Stop extends Error {}

function require_(name, ok, detail) {
  if (!check(name, ok, detail)) {
    throw new Stop(name);
  }
}

// ---------------------------------------------------------------------------------------------
// Token scanning.

// A JWS (three parts) or the start of a JWE (five): a base64url JSON header, `{"` being `eyJ`.
const JWT_RE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const TOKEN_KEYS = new Set(['access_token', 'refresh_token', 'id_token']);
const TOKEN_KEY_TEXT_RE = /["']?\b(access_token|refresh_token|id_token)\b["']?\s*:/;

const leaks = [];

function masked(text) {
  return text.replace(JWT_RE, 'eyJ...(JWT)').slice(0, 200);
}

function decoded(text) {
  const variants = [text];
  try {
    const once = decodeURIComponent(text.replace(/\+/g, ' '));
    if (once !== text) variants.push(once);
  } catch {
    // Not percent-encoded text.
  }
  return variants;
}

function leak(where, kind, sample) {
  where = masked(where);
  const key = `${where}|${kind}|${sample}`;
  if (!leaks.some((l) => l.key === key)) {
    leaks.push({ key, where, kind, sample });
  }
}

function scanText(where, text) {
  if (typeof text !== 'string' || text.length === 0) return;
  for (const variant of decoded(text)) {
    for (const match of variant.matchAll(JWT_RE)) {
      leak(where, 'jwt', match[0].slice(0, 24) + '...');
    }
  }
}

function walkKeys(where, value, trail) {
  if (Array.isArray(value)) {
    value.forEach((item, i) => walkKeys(where, item, `${trail}[${i}]`));
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (TOKEN_KEYS.has(key)) leak(where, 'token key in JSON', `${trail}.${key}`);
      walkKeys(where, item, `${trail}.${key}`);
    }
  }
}

function scanBody(where, text, fromBff) {
  scanText(where, text);
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (json !== undefined) {
    walkKeys(where, json, '$');
  } else if (fromBff && TOKEN_KEY_TEXT_RE.test(text)) {
    leak(where, 'token key in body', text.match(TOKEN_KEY_TEXT_RE)[0]);
  }
}

// ---------------------------------------------------------------------------------------------
// Traffic capture: every request and response of the browser context.

const traffic = [];
const pendingBodies = [];

// Playwright waits for a body until the response is complete; some never complete (the page
// navigated away): give up on those after a while.
function within(ms, promise, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

function watch(context) {
  context.on('request', async (request) => {
    const where = `request ${request.method()} ${request.url()}`;
    scanText(`${where} (url)`, request.url());
    const post = request.postData();
    if (post) scanBody(`${where} (body)`, post, false);
    try {
      const headers = await within(5000, request.allHeaders(), 'request headers');
      for (const [name, value] of Object.entries(headers)) {
        scanText(`${where} (header ${name})`, value);
      }
    } catch {
      // The request was gone before its headers could be read.
    }
  });
  context.on('response', (response) => {
    const url = response.url();
    const entry = { url, method: response.request().method(), status: response.status() };
    traffic.push(entry);
    const where = `response ${entry.method} ${url} ${entry.status}`;
    const fromBff = url.startsWith(BFF + '/');
    pendingBodies.push(
      (async () => {
        try {
          const headers = await within(5000, response.allHeaders(), 'headers');
          entry.headers = headers;
          for (const [name, value] of Object.entries(headers)) {
            scanText(`${where} (header ${name})`, value);
          }
          if (fromBff && headers['set-cookie']) {
            entry.setCookies = headers['set-cookie'].split('\n');
          }
        } catch {
          entry.headers = null;
        }
        if (entry.status >= 300 && entry.status < 400) return;
        try {
          const body = (await within(3000, response.body(), 'body')).toString('utf8');
          entry.bodyLength = body.length;
          scanBody(`${where} (body)`, body, fromBff);
        } catch {
          entry.body = 'unreadable';
          if (process.env.E2E_DEBUG) console.error(`body of ${url} unreadable`);
        }
      })(),
    );
  });
}

async function settleTraffic() {
  while (pendingBodies.length) {
    await Promise.allSettled(pendingBodies.splice(0));
  }
}

// After each step: what the page and the browser hold.
async function scanBrowser(step, page, context) {
  await settleTraffic();
  const where = `after ${step}`;
  scanText(`${where}: page URL`, page.url());
  let state;
  try {
    state = await page.evaluate(() => {
      const storage = (s) => {
        const out = {};
        for (let i = 0; i < s.length; i++) out[s.key(i)] = s.getItem(s.key(i));
        return out;
      };
      return {
        origin: location.origin,
        cookie: document.cookie,
        local: storage(localStorage),
        session: storage(sessionStorage),
        html: document.documentElement.outerHTML,
      };
    });
  } catch (error) {
    state = { error: String(error) };
  }
  if (state.error) {
    check(`${step}: page state readable`, false, state.error);
    return state;
  }
  scanText(`${where}: document.cookie of ${state.origin}`, state.cookie);
  for (const [area, entries] of [['localStorage', state.local], ['sessionStorage', state.session]]) {
    for (const [key, value] of Object.entries(entries)) {
      scanBody(`${where}: ${area} of ${state.origin} [${key}]`, `${key}=${value}`, false);
      if (TOKEN_KEYS.has(key)) leak(`${where}: ${area} of ${state.origin}`, 'token key', key);
    }
  }
  scanText(`${where}: HTML of ${page.url()}`, state.html);
  for (const cookie of await context.cookies()) {
    scanText(`${where}: cookie ${cookie.name} of ${cookie.domain}`, cookie.value);
  }
  return state;
}

// ---------------------------------------------------------------------------------------------
// The attacker's pages, on a second local port: reached as http://localhost:PORT they are
// cross-site to the BFF at 127.0.0.1 (same-site ignores ports, not host names); reached as
// http://127.0.0.1:PORT they are same-site but cross-origin, so SameSite cookies go along and
// only the BFF's own checks (Origin, X-CSRF) stand in the way.

function attackerServer() {
  const page = (body) => `<!doctype html><html><head><meta charset="utf-8"><title>attacker</title></head><body>${body}</body></html>`;
  const autoPost = (action) =>
    page(`<form id="f" method="post" action="${action}"><input type="hidden" name="x" value="1"></form>
<script>document.getElementById('f').submit();</script>`);
  const routes = {
    '/post-api': autoPost(`${BFF}/api/orders/orders`),
    '/post-logout': autoPost(`${BFF}/bff/logout`),
    '/get-api': page(`<script>location.href = ${JSON.stringify(BFF + '/api/orders/orders')};</script>`),
    '/fetch': page(`<p id="out">pending</p><script>
(async () => {
  const results = {};
  for (const [name, url, init] of [
    ['user', ${JSON.stringify(BFF + '/bff/user')}, { headers: { 'X-CSRF': '1' }, credentials: 'include' }],
    ['api', ${JSON.stringify(BFF + '/api/orders/orders')}, { headers: { 'X-CSRF': '1' }, credentials: 'include' }],
    ['user-simple', ${JSON.stringify(BFF + '/bff/user')}, { credentials: 'include' }],
  ]) {
    try {
      const r = await fetch(url, init);
      results[name] = { readable: true, status: r.status, body: await r.text() };
    } catch (e) {
      results[name] = { readable: false, error: String(e) };
    }
  }
  window.results = results;
  document.getElementById('out').textContent = 'done';
})();
</script>`),
  };
  const server = http.createServer((req, res) => {
    const body = routes[new URL(req.url, 'http://x').pathname];
    res.writeHead(body ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(body ?? 'not found');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---------------------------------------------------------------------------------------------

async function shot(page, name) {
  if (!ARTIFACTS || !page) return;
  try {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  } catch {
    // A screenshot is a help, never a failure.
  }
}

function spaUrl(p = '/') {
  return BFF + p;
}

async function userState(page) {
  // Wait until app.js has decided: either the user line or the sign-in link shows.
  try {
    await page.waitForFunction(
      () => {
        const visible = (id) => {
          const el = document.getElementById(id);
          return el && el.offsetParent !== null;
        };
        return visible('user') || visible('login');
      },
      null,
      { timeout: STEP_TIMEOUT_MS },
    );
  } catch {
    const status = await page.textContent('#status').catch(() => null);
    const body = status === null ? ((await page.textContent('body').catch(() => '')) || '').trim().slice(0, 300) : undefined;
    throw new Error(`the SPA showed neither signed in nor signed out at ${page.url()}: ${JSON.stringify(status ?? body)}`);
  }
  return page.evaluate(() => {
    const visible = (id) => {
      const el = document.getElementById(id);
      return el && el.offsetParent !== null;
    };
    return {
      signedIn: visible('user'),
      signedOut: visible('login'),
      user: document.getElementById('user')?.textContent ?? null,
    };
  });
}

// The next committed main-frame navigation whose URL matches (redirects in between do not
// commit), unlike page.waitForURL, which is satisfied at once by the current URL.
function nextNavigation(page, predicate, timeout = STEP_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      page.off('framenavigated', onNavigated);
      reject(new Error(`no navigation within ${timeout} ms (still at ${page.url()})`));
    }, timeout);
    function onNavigated(frame) {
      if (frame === page.mainFrame() && predicate(new URL(frame.url()))) {
        clearTimeout(timer);
        page.off('framenavigated', onNavigated);
        resolve(frame.url());
      }
    }
    page.on('framenavigated', onNavigated);
  });
}

async function bffUserFromPage(page, withHeader = true) {
  return page.evaluate(async (withHeader) => {
    const r = await fetch('/bff/user', { headers: withHeader ? { 'X-CSRF': '1' } : {}, cache: 'no-store' });
    return { status: r.status, body: await r.text() };
  }, withHeader);
}

async function main() {
  const attacker = await attackerServer();
  const attackerPort = attacker.address().port;
  const crossSite = `http://localhost:${attackerPort}`;
  const sameSite = `http://127.0.0.1:${attackerPort}`;

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: STEP_TIMEOUT_MS * 2,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext();
  watch(context);
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  const consoleProblems = [];
  page.on('pageerror', (error) => consoleProblems.push(`pageerror on ${page.url()}: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(text)) {
      consoleProblems.push(`${page.url()}: ${text}`);
    }
  });
  let sessionCookieBeforeLogout = null;

  try {
    // 1. The SPA, signed out.
    const first = await page.goto(spaUrl('/'));
    require_('spa served at the BFF origin', first && first.status() === 200, { status: first?.status() });
    await settleTraffic();
    const csp = first.headers()['content-security-policy'] ?? null;
    const scriptSrc = csp?.match(/script-src([^;]*)/)?.[1] ?? csp?.match(/default-src([^;]*)/)?.[1] ?? null;
    check(
      "spa served with a CSP allowing scripts from 'self' only",
      scriptSrc !== null && scriptSrc.includes("'self'") && !/unsafe-inline|unsafe-eval|\*/.test(scriptSrc),
      { csp },
    );
    let state = await userState(page);
    require_('signed out at first', state.signedOut && !state.signedIn, state);
    await scanBrowser('signed-out start', page, context);

    // 2. Sign in through Ostiary's login form.
    await Promise.all([page.waitForSelector('input[name="username"]'), page.click('#login')]);
    require_('login page is Ostiary\'s', page.url().startsWith(AS + '/'), { url: page.url() });
    await scanBrowser('login page', page, context);
    await page.fill('input[name="username"]', USERNAME);
    await page.fill('input[name="password"]', PASSWORD);
    const [afterLogin] = await Promise.all([
      nextNavigation(page, () => true),
      page.click('form[action="/login"] button[type="submit"]'),
    ]);
    await page.waitForLoadState('load');
    if (!afterLogin.startsWith(BFF + '/') || new URL(afterLogin).pathname.startsWith('/bff/')) {
      // Stuck at Ostiary (login refused, consent) or at the BFF's callback (an error page).
      await settleTraffic();
      const callback = traffic.filter((t) => t.url.startsWith(`${BFF}/bff/callback`)).pop();
      require_('after the login form, the browser lands on the SPA', false, {
        landed: masked(afterLogin),
        callbackStatus: callback?.status ?? null,
        page: ((await page.textContent('body').catch(() => '')) || '').trim().slice(0, 300),
      });
    }
    state = await userState(page);
    require_('signed in after login, back on the SPA', state.signedIn, { url: page.url(), ...state });
    const browserState = await scanBrowser('login', page, context);

    // The session cookie.
    const bffCookies = await context.cookies(BFF);
    const session = bffCookies.find((c) => c.name === SESSION_COOKIE);
    require_(`session cookie ${SESSION_COOKIE} set`, session, { cookies: bffCookies.map((c) => c.name) });
    check('session cookie has the __Host- prefix, host-only, Path=/', session.name.startsWith('__Host-') && session.path === '/' && !session.domain.startsWith('.'), {
      domain: session.domain,
      path: session.path,
    });
    check('session cookie is HttpOnly', session.httpOnly === true);
    check('session cookie is Secure', session.secure === true);
    check('session cookie is SameSite=Strict', session.sameSite === 'Strict', { sameSite: session.sameSite });
    check('session cookie not in document.cookie', !browserState.cookie.includes(SESSION_COOKIE) && !browserState.cookie.includes(session.value), {
      documentCookie: browserState.cookie,
    });
    // Cookies ignore ports: Ostiary's own cookies on 127.0.0.1 are in this list too. Judge the
    // ones the BFF set, by the Set-Cookie headers of its responses.
    const bffSet = new Set(
      traffic
        .filter((t) => t.url.startsWith(BFF + '/') && t.setCookies)
        .flatMap((t) => t.setCookies.map((line) => line.split('=')[0].trim())),
    );
    const ownCookies = bffCookies.filter((c) => bffSet.has(c.name));
    check('every cookie the BFF set is HttpOnly and Secure', ownCookies.length > 0 && ownCookies.every((c) => c.httpOnly && c.secure), {
      cookies: ownCookies.map(({ name, httpOnly, secure, sameSite }) => ({ name, httpOnly, secure, sameSite })),
    });
    sessionCookieBeforeLogout = session.value;

    const user = await bffUserFromPage(page);
    let claims = null;
    try {
      claims = JSON.parse(user.body);
    } catch {
      claims = null;
    }
    require_('/bff/user answers the claims', user.status === 200 && claims && typeof claims.sub === 'string', user);
    const shownName = claims.preferred_username || claims.sub;
    check('SPA shows preferred_username, else sub', state.user === `Signed in as ${shownName}`, {
      user: state.user,
      preferred_username: claims.preferred_username ?? null,
    });

    // 3. Call the API through the BFF.
    await page.click('#call-api');
    await page.waitForFunction(() => {
      const text = document.getElementById('api-result')?.textContent ?? '';
      return text.length > 0 && !text.startsWith('Calling');
    });
    const apiText = await page.textContent('#api-result');
    let api = null;
    try {
      api = JSON.parse(apiText);
    } catch {
      api = null;
    }
    require_('API answered through the BFF', api && Array.isArray(api.orders) && api.orders.length === 0, { text: apiText });
    check('API saw the signed-in user', api.subject === claims.sub, { subject: api.subject, sub: claims.sub });
    if (CLIENT_ID) {
      check("API got the BFF client's access token", api.for_client === CLIENT_ID, { for_client: api.for_client, dpop_jkt: api.dpop_jkt });
    }
    await scanBrowser('API call', page, context);

    // 4. Same-origin calls without the CSRF header are refused.
    const noHeaderUser = await bffUserFromPage(page, false);
    check('GET /bff/user without X-CSRF refused (4xx)', noHeaderUser.status >= 400 && noHeaderUser.status < 500, noHeaderUser);
    const noHeaderApi = await page.evaluate(async () => {
      const r = await fetch('/api/orders/orders', { cache: 'no-store' });
      return { status: r.status, body: (await r.text()).slice(0, 200) };
    });
    check('GET /api/orders/orders without X-CSRF refused (4xx)', noHeaderApi.status >= 400 && noHeaderApi.status < 500, noHeaderApi);

    // 5. Attacks from other origins, in the same browser (the user's cookies are there).
    const attack = await context.newPage();
    attack.setDefaultTimeout(STEP_TIMEOUT_MS);
    for (const [label, origin] of [['cross-site', crossSite], ['same-site cross-origin', sameSite]]) {
      // (a) A form auto-posted to the API.
      const [posted] = await Promise.all([
        attack.waitForResponse((r) => r.url().startsWith(`${BFF}/api/orders/orders`) && r.request().method() === 'POST'),
        attack.goto(`${origin}/post-api`),
      ]);
      const postedBody = await posted.text().catch(() => '');
      check(`${label} form POST to /api/orders/orders refused (4xx, no data)`, posted.status() >= 400 && posted.status() < 500 && !postedBody.includes('"orders"'), {
        from: origin,
        status: posted.status(),
        body: postedBody.slice(0, 200),
      });

      // (b) A top-level GET navigation to the API.
      const [navigated] = await Promise.all([
        attack.waitForResponse((r) => r.url().startsWith(`${BFF}/api/orders/orders`) && r.request().method() === 'GET'),
        attack.goto(`${origin}/get-api`),
      ]);
      const navigatedBody = await navigated.text().catch(() => '');
      check(`${label} navigation GET to /api/orders/orders refused (4xx, no data)`, navigated.status() >= 400 && navigated.status() < 500 && !navigatedBody.includes('"orders"'), {
        from: origin,
        status: navigated.status(),
        body: navigatedBody.slice(0, 200),
      });

      // (c) Cross-origin fetches with credentials: CORS must keep the answers unreadable.
      await attack.goto(`${origin}/fetch`);
      await attack.waitForFunction(() => document.getElementById('out')?.textContent === 'done');
      const results = await attack.evaluate(() => window.results);
      check(`${label} fetch cannot read /bff/user or the API`, Object.values(results).every((r) => !r.readable || r.status >= 400), {
        from: origin,
        results,
      });

      // (d) A form auto-posted to /bff/logout does not sign the user out.
      const [loggedOut] = await Promise.all([
        attack.waitForResponse((r) => r.url().startsWith(`${BFF}/bff/logout`)),
        attack.goto(`${origin}/post-logout`),
      ]);
      await attack.waitForLoadState('load').catch(() => {});
      const still = await bffUserFromPage(page);
      check(`${label} form POST to /bff/logout does not end the session`, still.status === 200, {
        from: origin,
        logoutStatus: loggedOut.status(),
        logoutLocation: loggedOut.headers().location ?? null,
        userAfter: still.status,
      });
    }
    await attack.close();
    await scanBrowser('attacks', page, context);

    // 6. Sign out.
    await page.goto(spaUrl('/'));
    state = await userState(page);
    require_('still signed in before sign-out', state.signedIn, state);
    // Ostiary asks "Sign out?" when the logout request does not prove the session with an
    // id_token_hint: a BFF that keeps even the ID token out of the browser sends none. Noted,
    // and confirmed as the user would.
    const [landed] = await Promise.all([
      nextNavigation(page, (url) => url.origin === BFF || url.origin === AS),
      page.click('#logout'),
    ]);
    await page.waitForLoadState('load');
    if (new URL(landed).origin === BFF && new URL(landed).pathname.startsWith('/bff/')) {
      // The BFF answered the sign-out form itself instead of sending the browser on.
      await settleTraffic();
      const answer = traffic.filter((t) => t.url.startsWith(`${BFF}/bff/logout`) && t.method === 'POST').pop();
      require_("the SPA's sign-out form is accepted", false, {
        landed: masked(landed),
        status: answer?.status ?? null,
        page: ((await page.textContent('body').catch(() => '')) || '').trim().slice(0, 300),
        spaReferrerPolicy: traffic.find((t) => t.url === `${BFF}/`)?.headers?.['referrer-policy'] ?? null,
      });
    }
    const confirmationAsked = landed.startsWith(AS + '/') && (await page.$('form[action="/logout"] button[type="submit"]')) !== null;
    if (confirmationAsked) {
      note(`sign-out: Ostiary asked the user to confirm (${masked(landed)})`);
      await scanBrowser('logout confirmation page', page, context);
      await Promise.all([
        nextNavigation(page, (url) => url.origin === BFF),
        page.click('form[action="/logout"] button[type="submit"]'),
      ]);
    }
    state = await userState(page);
    require_('signed out after sign-out, back on the SPA', state.signedOut && !state.signedIn, { url: page.url(), ...state });
    await scanBrowser('logout', page, context);
    const afterLogout = (await context.cookies(BFF)).find((c) => c.name === SESSION_COOKIE);
    check('session cookie removed from the browser on sign-out', !afterLogout || afterLogout.value === '' || afterLogout.value !== sessionCookieBeforeLogout, {
      cookie: afterLogout ? { name: afterLogout.name, changed: afterLogout.value !== sessionCookieBeforeLogout } : null,
    });

    // 7. Ostiary's session ended too: signing in again shows the login form.
    const [again] = await Promise.all([
      nextNavigation(page, (url) => url.origin === AS || url.origin === BFF),
      page.click('#login'),
    ]);
    await page.waitForLoadState('load');
    let relogin;
    if (again.startsWith(AS + '/') && (await page.$('input[name="username"]')) !== null) {
      relogin = 'login form';
    } else if (again.startsWith(BFF + '/')) {
      relogin = (await userState(page).catch(() => ({}))).signedIn ? 'signed in silently' : 'back on the SPA, signed out';
    } else {
      relogin = `elsewhere: ${again}`;
    }
    check("Ostiary's session ended: signing in again asks for the password", relogin === 'login form', { result: relogin, url: page.url() });
    await scanBrowser('sign-in again', page, context);

    // 8. return_to cannot send the user off the BFF's origin after signing in (open redirect):
    // protocol-relative, backslash and absolute forms, each through a full sign-in.
    for (const returnTo of [`//localhost:${attackerPort}/stolen`, `/\\localhost:${attackerPort}/stolen`, `${crossSite}/stolen`]) {
      const started = await page.goto(`${BFF}/bff/login?return_to=${encodeURIComponent(returnTo)}`);
      if (page.url().startsWith(AS + '/') && (await page.$('input[name="username"]')) !== null) {
        await page.fill('input[name="username"]', USERNAME);
        await page.fill('input[name="password"]', PASSWORD);
        await Promise.all([nextNavigation(page, () => true), page.click('form[action="/login"] button[type="submit"]')]);
      }
      await page.waitForLoadState('load');
      check(`return_to ${JSON.stringify(returnTo)} stays on the BFF's origin`, new URL(page.url()).origin === BFF, {
        loginStatus: started?.status() ?? null,
        landed: masked(page.url()),
      });
      await scanBrowser(`return_to ${returnTo}`, page, context);
    }

    // 9. The old session cookie, replayed outside the browser, is dead.
    for (const [name, url] of [['/bff/user', `${BFF}/bff/user`], ['/api/orders/orders', `${BFF}/api/orders/orders`]]) {
      const response = await fetch(url, {
        headers: { 'X-CSRF': '1', Cookie: `${SESSION_COOKIE}=${sessionCookieBeforeLogout}` },
        redirect: 'manual',
        signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
      });
      const body = await response.text();
      check(`replayed session cookie after sign-out: ${name} answers 401`, response.status === 401, { status: response.status, body: body.slice(0, 200) });
      scanBody(`replay ${name} (body)`, body, true);
    }
  } catch (error) {
    if (!(error instanceof Stop)) {
      check('the flow ran to its end', false, { error: String(error.stack || error).split('\n').slice(0, 6).join(' | '), url: page.url() });
    }
    await shot(page, 'failure');
  } finally {
    await settleTraffic().catch(() => {});
    check('no CSP violation or script error on the pages', consoleProblems.length === 0, consoleProblems.length ? consoleProblems : undefined);
    check('no token anywhere in the browser', leaks.length === 0, leaks.length ? leaks.map(({ where, kind, sample }) => ({ where, kind, sample })) : undefined);
    if (ARTIFACTS) {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      fs.writeFileSync(path.join(ARTIFACTS, 'traffic.json'), JSON.stringify(traffic, null, 1));
    }
    await browser.close().catch(() => {});
    attacker.close();
  }
}

function summary() {
  const failed = checks.filter((c) => !c.ok);
  console.log(
    JSON.stringify({
      ok: failed.length === 0,
      passed: checks.length - failed.length,
      failed: failed.length,
      checks: Object.fromEntries(checks.map((c) => [c.name, c.ok])),
      ...(notes.length ? { notes } : {}),
      ...(failed.length ? { failures: failed } : {}),
    }),
  );
  console.log(`${checks.length - failed.length} passed, ${failed.length} failed`);
  return failed.length;
}

await main();
process.exit(summary() === 0 ? 0 : 1);
