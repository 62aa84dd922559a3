// The device verification pages (RFC 8628) in headless Chromium, at desktop and phone widths:
// enter the code, sign in, approve (desktop) or deny (phone), with a screenshot of each page.
// Fails on a console error, a page error, or any request to another origin.
//
// Needs Debian's chromium and playwright-core (npm), and a running server with a user and a
// public device client:
//   OSTIARY_BASE=http://127.0.0.1:18080 OSTIARY_CLIENT=<client_id> OSTIARY_USER=alice \
//   OSTIARY_PASSWORD=... OUT=/tmp/shots node tools/browser/device_pages.mjs
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const base = process.env.OSTIARY_BASE ?? "http://127.0.0.1:18080";
const client = process.env.OSTIARY_CLIENT;
const user = process.env.OSTIARY_USER ?? "alice";
const password = process.env.OSTIARY_PASSWORD;
const out = process.env.OUT ?? "/tmp/ostiary-shots";
mkdirSync(out, { recursive: true });

async function startDevice() {
  const response = await fetch(`${base}/device_authorization`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: client, scope: "openid offline_access" }),
  });
  if (response.status !== 200) throw new Error(`device_authorization: ${response.status}`);
  return response.json();
}

async function poll(deviceCode) {
  const response = await fetch(`${base}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "urn:ietf:params:oauth:grant-type:device_code",
      device_code: deviceCode,
      client_id: client,
    }),
  });
  return [response.status, await response.json()];
}

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium" });
const problems = [];
const viewports = [
  { name: "desktop", viewport: { width: 1280, height: 800 }, decision: "Allow" },
  { name: "phone", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, decision: "Deny" },
];
for (const { name, decision, ...options } of viewports) {
  const device = await startDevice();
  const context = await browser.newContext(options);
  const page = await context.newPage();
  // The wrong code is answered 400 on purpose, which Chromium logs as an error.
  let expectingRefusal = false;
  page.on("console", (m) => {
    if (m.type() === "error" && !expectingRefusal) problems.push(`${name} console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${name} page error: ${e.message}`));
  page.on("request", (r) => {
    if (new URL(r.url()).origin !== new URL(base).origin) problems.push(`${name} off-origin: ${r.url()}`);
  });
  const shot = (step) => page.screenshot({ path: `${out}/${name}-${step}.png`, fullPage: true });

  await page.goto(`${base}/device`);
  await page.fill("input[name=user_code]", "BCDF-GHJK");
  expectingRefusal = true;
  await page.click("button[type=submit]");
  await page.waitForLoadState();
  expectingRefusal = false;
  await shot("1-wrong-code");
  await page.goto(device.verification_uri_complete);
  await shot("2-code");
  await page.click("button[type=submit]");
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", password);
  await shot("3-login");
  await page.click("button[type=submit]");
  await shot("4-consent");
  await page.click(`button:has-text("${decision}")`);
  await shot("5-done");
  const [status, body] = await poll(device.device_code);
  console.log(`${name}: ${decision} -> token endpoint ${status} ${body.error ?? body.token_type}`);
  await context.close();
}
await browser.close();
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`no console errors, no page errors, nothing from another origin; screenshots in ${out}`);
