// Tapprove for Keycloak against a REAL Keycloak (started by `cargo xtask test keycloak`, with the
// provider jar in providers/) and a REAL `tapprove serve`. Through Keycloak's admin REST API it
// creates a realm, a browser flow "password, then Tapprove push", a confidential OIDC client
// whose redirect endpoint (below, on loopback) exchanges the code for tokens, and a user. Then in
// headless Chromium: the user enrolls (pairing code → `tapprove device pair`), logs out, logs in
// (password → number → `tapprove device respond`) and the client receives tokens; a wrong number
// and a "not me" end with their messages; the extension's devices page lists the phone as the
// service knows it and Remove revokes it there, as removing the pairing in the account console
// does. Screenshots: docs/screenshots/keycloak-*.png.
//
// Env: KEYCLOAK_URL, KEYCLOAK_ADMIN, KEYCLOAK_ADMIN_PASSWORD, KEYCLOAK_VAULT_DIR, TAPPROVE_URL,
// TAPPROVE_DATABASE, TAPPROVE_SEAL_KEY, TAPPROVE_BIN, SCREENSHOT_DIR, CHROMIUM (default
// /usr/bin/chromium).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `set ${name}`);
  return v;
};
const KC = env('KEYCLOAK_URL');
const SERVICE = env('TAPPROVE_URL');
const BIN = env('TAPPROVE_BIN');
const SHOTS = env('SCREENSHOT_DIR');
const VAULT = env('KEYCLOAK_VAULT_DIR');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const REALM = 'tapprove-test';
const USER = 'alice';
const PASSWORD = 'correct horse battery staple';
const CLIENT_ID = 'sample-app';
const CLIENT_SECRET = randomBytes(24).toString('base64url');
mkdirSync(SHOTS, { recursive: true });

const data = mkdtempSync(join(tmpdir(), 'tapprove-keycloak-'));
const store = join(data, 'device');
let browser, page, app, appUrl, project, adminToken;
let lastTokens = null;
let pushConfig;

/** Runs `tapprove ARGS` and returns stdout (throws with stderr on failure). */
function tapprove(...args) {
  try {
    return execFileSync(BIN, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TAPPROVE_LOG: 'warn' },
    });
  } catch (e) {
    throw new Error(`tapprove ${args.join(' ')} failed: ${e.stderr}`);
  }
}
const device = (...args) => tapprove('device', ...args, '--store', store);

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `keycloak-${name}.png`), fullPage: true });
}

/** Keycloak's admin REST API; returns parsed JSON (or null), throws on an unexpected status. */
async function admin(method, path, body) {
  const call = () => fetch(`${KC}/admin/realms${path}`, {
    method,
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let res = await call();
  if (res.status === 401) {
    // The master realm's admin tokens live 60 s: log in again once.
    await adminLogin();
    res = await call();
  }
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path} → ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

async function waitForKeycloak() {
  const deadline = Date.now() + 240000;
  for (;;) {
    try {
      const r = await fetch(`${KC}/realms/master/.well-known/openid-configuration`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    assert.ok(Date.now() < deadline, `Keycloak at ${KC} did not answer within 240 s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function adminLogin() {
  const res = await fetch(`${KC}/realms/master/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: 'admin-cli',
      username: env('KEYCLOAK_ADMIN'),
      password: env('KEYCLOAK_ADMIN_PASSWORD'),
    }),
  });
  assert.equal(res.status, 200, `admin login: ${await res.clone().text()}`);
  adminToken = (await res.json()).access_token;
}

/** The sample OIDC client's redirect endpoint: exchanges the code for tokens at Keycloak. */
function startApp() {
  return new Promise((resolve) => {
    const server = createServer(async (req, res) => {
      const url = new URL(req.url, appUrl);
      if (url.pathname === '/callback') {
        const code = url.searchParams.get('code');
        const error = url.searchParams.get('error');
        if (!code) {
          res.writeHead(400, { 'Content-Type': 'text/html' });
          res.end(`<h1 id="app-error">Login failed: ${error}</h1>`);
          return;
        }
        const tokenRes = await fetch(`${KC}/realms/${REALM}/protocol/openid-connect/token`, {
          method: 'POST',
          headers: { Authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}` },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: `${appUrl}/callback` }),
        });
        const tokens = await tokenRes.json();
        if (tokenRes.status !== 200 || !tokens.id_token || !tokens.access_token) {
          res.writeHead(502, { 'Content-Type': 'text/html' });
          res.end(`<h1 id="app-error">Token exchange failed (${tokenRes.status})</h1>`);
          return;
        }
        lastTokens = tokens;
        const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url').toString());
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(`<!doctype html><title>Sample App</title><body style="font-family:sans-serif;margin:3rem">
<h1>Sample App</h1><p id="signed-in">Signed in as <b>${claims.preferred_username}</b> through Keycloak.</p>
<p>The app received an ID token, an access token and a refresh token.</p></body>`);
        return;
      }
      if (url.pathname === '/logged-out') {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<h1 id="logged-out">Logged out</h1>');
        return;
      }
      res.writeHead(404);
      res.end();
    });
    server.listen(0, '127.0.0.1', () => {
      appUrl = `http://127.0.0.1:${server.address().port}`;
      resolve(server);
    });
  });
}

function authorizeUrl() {
  const q = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    scope: 'openid',
    redirect_uri: `${appUrl}/callback`,
    state: randomBytes(8).toString('hex'),
  });
  return `${KC}/realms/${REALM}/protocol/openid-connect/auth?${q}`;
}

/** Realm, flow "password then Tapprove push", required action, client and user. */
async function configureKeycloak() {
  // A realm left over from an earlier run against the same Keycloak goes first.
  const old = await fetch(`${KC}/admin/realms/${REALM}`, { headers: { Authorization: `Bearer ${adminToken}` } });
  if (old.ok) await admin('DELETE', `/${REALM}`);
  await admin('POST', '', {
    realm: REALM,
    enabled: true,
    displayName: 'Tapprove Test',
    // On, so the step's lockout check runs; high enough that the test's failures never lock.
    // Keycloak also locks a user for a minute after two failures less than a second apart
    // (its quick-login check, 1000 ms by default); tests 4 and 5 can be that fast.
    bruteForceProtected: true,
    failureFactor: 30,
    quickLoginCheckMilliSeconds: 1,
  });
  const r = `/${REALM}`;
  const flow = 'tapprove browser';
  const enc = encodeURIComponent;
  await admin('POST', `${r}/authentication/flows`, {
    alias: flow,
    description: 'Cookie, or password then Tapprove push',
    providerId: 'basic-flow',
    topLevel: true,
    builtIn: false,
  });
  await admin('POST', `${r}/authentication/flows/${enc(flow)}/executions/execution`, { provider: 'auth-cookie' });
  await admin('POST', `${r}/authentication/flows/${enc(flow)}/executions/flow`, {
    alias: 'tapprove forms',
    type: 'basic-flow',
    provider: 'registration-page-form',
    description: 'password, then push',
  });
  await admin('POST', `${r}/authentication/flows/${enc('tapprove forms')}/executions/execution`, {
    provider: 'auth-username-password-form',
  });
  await admin('POST', `${r}/authentication/flows/${enc('tapprove forms')}/executions/execution`, {
    provider: 'tapprove-push',
  });
  const executions = await admin('GET', `${r}/authentication/flows/${enc(flow)}/executions`);
  const requirement = {
    'auth-cookie': 'ALTERNATIVE',
    'auth-username-password-form': 'REQUIRED',
    'tapprove-push': 'REQUIRED',
  };
  for (const e of executions) {
    const want = e.authenticationFlow ? 'ALTERNATIVE' : requirement[e.providerId];
    assert.ok(want, `unexpected execution ${JSON.stringify(e)}`);
    await admin('PUT', `${r}/authentication/flows/${enc(flow)}/executions`, { ...e, requirement: want });
  }
  const push = executions.find((e) => e.providerId === 'tapprove-push');
  // API key and webhook secret through Keycloak's file vault (file name: <realm>_<key>), the
  // webhook password as a plain value: both ways are in use. Dashes, because the file vault
  // doubles underscores in file names.
  writeFileSync(join(VAULT, `${REALM}_tapprove-api-key`), project.api_key, { mode: 0o600 });
  writeFileSync(join(VAULT, `${REALM}_tapprove-webhook-secret`), project.webhook_secret, { mode: 0o600 });
  await admin('POST', `${r}/authentication/executions/${push.id}/config`, {
    alias: 'tapprove',
    config: pushConfig = {
      serviceUrl: SERVICE,
      apiKey: '${vault.tapprove-api-key}',
      sdkKey: project.sdk_key,
      webhookUsername: project.webhook_username,
      webhookPassword: project.webhook_password,
      webhookSecret: '${vault.tapprove-webhook-secret}',
      presence: 'choose',
      ttlSeconds: '120',
    },
  });
  const realm = await admin('GET', r);
  await admin('PUT', r, { ...realm, browserFlow: flow });

  const unregistered = await admin('GET', `${r}/authentication/unregistered-required-actions`);
  const enroll = unregistered.find((a) => a.providerId === 'tapprove-enroll');
  if (enroll) {
    await admin('POST', `${r}/authentication/register-required-action`, { providerId: enroll.providerId, name: enroll.name });
  }
  const actions = await admin('GET', `${r}/authentication/required-actions`);
  assert.ok(
    actions.some((a) => a.alias === 'tapprove-enroll' && a.enabled),
    `the tapprove-enroll required action is registered and enabled: ${JSON.stringify(actions.map((a) => a.alias))}`,
  );

  await admin('POST', `${r}/clients`, {
    clientId: CLIENT_ID,
    name: 'Sample App',
    enabled: true,
    publicClient: false,
    secret: CLIENT_SECRET,
    standardFlowEnabled: true,
    directAccessGrantsEnabled: false,
    redirectUris: [`${appUrl}/callback`],
    attributes: { 'post.logout.redirect.uris': `${appUrl}/logged-out` },
  });
  await admin('POST', `${r}/users`, {
    username: USER,
    enabled: true,
    email: 'alice@example.test',
    emailVerified: true,
    firstName: 'Alice',
    lastName: 'Liddell',
    credentials: [{ type: 'password', value: PASSWORD, temporary: false }],
  });
}

/** Opens the client's login, submits the password; returns when Keycloak's next page is shown. */
async function passwordStep() {
  lastTokens = null;
  await page.goto(authorizeUrl());
  await page.fill('#username', USER);
  await page.fill('#password', PASSWORD);
  await page.click('#kc-login');
}

async function logOut() {
  assert.ok(lastTokens, 'signed in before logging out');
  const q = new URLSearchParams({ id_token_hint: lastTokens.id_token, post_logout_redirect_uri: `${appUrl}/logged-out` });
  await page.goto(`${KC}/realms/${REALM}/protocol/openid-connect/logout?${q}`);
  await page.waitForSelector('#logged-out');
}

/** Waits until the terminal authenticator sees a pending request and returns it. */
async function pendingRequest() {
  for (let i = 0; i < 100; i++) {
    const list = JSON.parse(device('requests', '--json'));
    if (list.length > 0) return list[0];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no login request reached the device');
}

/** Logs in up to the number page; returns [number shown, the request on the phone]. */
// The push page, or a clear failure naming what the step showed instead (a lockout, say).
async function waitForPushPage() {
  const shown = await page.waitForSelector('#presence-code, #tapprove-result');
  if ((await shown.getAttribute('id')) === 'tapprove-result') {
    assert.fail(`the push step showed a result instead of a code: ${(await shown.textContent()).trim()}`);
  }
}

async function loginToNumber() {
  await passwordStep();
  await waitForPushPage();
  const number = (await page.textContent('#presence-code')).trim();
  assert.match(number, /^\d{2}$/);
  const request = await pendingRequest();
  assert.ok(request.options.includes(number), 'the number on the page is one of the phone options');
  return [number, request];
}

before(async () => {
  await waitForKeycloak();
  await adminLogin();
  app = await startApp();
  project = JSON.parse(tapprove(
    'admin', 'project', 'create', '--name', 'Keycloak Test', '--json',
    '--trust-url', `${KC}/realms/${REALM}/tapprove/trust`,
    '--database', env('TAPPROVE_DATABASE'),
  ));
  await configureKeycloak();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
});

after(async () => {
  await browser?.close();
  app?.close();
  rmSync(data, { recursive: true, force: true });
});

test('the trust webhook refuses calls without the right credentials', async () => {
  const url = `${KC}/realms/${REALM}/tapprove/trust`;
  const body = JSON.stringify({ user: USER, challenge: 'AAAA-AAAA' });
  const noAuth = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  assert.equal(noAuth.status, 401);
  const basic = Buffer.from(`${project.webhook_username}:${project.webhook_password}`).toString('base64');
  const ts = Math.floor(Date.now() / 1000);
  const badSig = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Authorization: `Basic ${basic}`,
      'webhook-id': 'msg_test',
      'webhook-timestamp': String(ts),
      'webhook-signature': `v1,${Buffer.from('not the signature').toString('base64')}`,
    },
    body,
  });
  assert.equal(badSig.status, 401, 'Basic auth alone is not enough: the signature must verify');
});

test('enroll after the password: pairing code → terminal authenticator pairs → signed in', { timeout: 180000 }, async () => {
  await passwordStep();
  await page.waitForSelector('#pairing-code');
  const code = (await page.textContent('#pairing-code')).trim();
  assert.match(code, /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/, 'XXXX-XXXX Crockford base32');
  const uri = (await page.getAttribute('#enrollment-uri', 'href')).trim();
  const parsed = new URL(uri.replace('tapprove://', 'http://'));
  assert.equal(parsed.searchParams.get('code'), code);
  assert.equal(parsed.searchParams.get('user'), USER);
  assert.equal(parsed.searchParams.get('server'), SERVICE);
  assert.equal(parsed.searchParams.get('sdk_key'), project.sdk_key);
  assert.match(await page.getAttribute('#tapprove-qr', 'src'), /^data:image\/svg\+xml;base64,/);
  await shot('1-enroll');

  const paired = JSON.parse(device('pair', '--uri', uri, '--name', 'Test terminal', '--json'));
  assert.equal(paired.user, USER);
  assert.equal(paired.project_name, 'Keycloak Test');
  // The page notices the pairing by itself and Keycloak finishes the login.
  await page.waitForSelector('#signed-in', { timeout: 30000 });
  assert.match(await page.textContent('#signed-in'), /Signed in as alice/);
  assert.ok(lastTokens.access_token && lastTokens.refresh_token);

  // The code was single use: a second device with the same link is refused.
  const other = join(data, 'other-device');
  assert.throws(
    () => execFileSync(BIN, ['device', 'pair', '--uri', uri, '--store', other, '--json'], { stdio: 'pipe' }),
    (e) => /not accepted|rejected|refused/i.test(String(e.stderr)),
  );

  // Keycloak records the pairing as the user's Tapprove credential.
  const [kcUser] = await admin('GET', `/${REALM}/users?username=${USER}&exact=true`);
  const creds = await admin('GET', `/${REALM}/users/${kcUser.id}/credentials`);
  assert.equal(creds.filter((c) => c.type === 'tapprove-device').length, 1);
});

test('log out, log in with the password, choose the number on the phone → the client gets tokens', { timeout: 120000 }, async () => {
  await logOut();
  const [number, request] = await loginToNumber();
  assert.equal(request.context.app, 'Sample App');
  assert.equal(request.context.ip, '127.0.0.1');
  assert.match(request.context.user_agent, /Chrome/);
  assert.match(await page.textContent('#tapprove-instruction'), /choose this number/);
  await shot('2-choose-number');

  const outcome = JSON.parse(device('respond', request.id, '--choose', number, '--json'));
  assert.equal(outcome.status, 'accepted');
  await page.waitForSelector('#signed-in', { timeout: 40000 });
  assert.match(await page.textContent('#signed-in'), /Signed in as alice/);
  assert.ok(lastTokens.id_token && lastTokens.access_token);
  await shot('3-signed-in');
});

test('pairing a phone on an old sign-in asks to sign in again first', { timeout: 120000 }, async () => {
  // Signed in (single sign-on) by the test before. The action's "maximum age of
  // authentication" is made 2 s and the action set on the user, as an admin would.
  const r = `/${REALM}`;
  await admin('PUT', `${r}/authentication/required-actions/tapprove-enroll/config`, { config: { max_auth_age: '2' } });
  const [kcUser] = await admin('GET', `${r}/users?username=${USER}&exact=true`);
  await admin('PUT', `${r}/users/${kcUser.id}`, { requiredActions: ['tapprove-enroll'] });
  await new Promise((res) => setTimeout(res, 3500));

  // The SSO cookie alone reaches the action: no code is shown, the old session ends.
  lastTokens = null;
  await page.goto(authorizeUrl());
  await page.waitForSelector('#tapprove-result, #pairing-code');
  assert.equal(await page.locator('#pairing-code').count(), 0, 'no pairing code on an old sign-in');
  assert.match(await page.textContent('#tapprove-result'), /sign in again before pairing a phone/);
  await shot('9-enroll-sign-in-again');
  await page.click('#tapprove-restart');
  await page.waitForSelector('#password');
  if (await page.locator('#username').isEditable().catch(() => false)) {
    await page.fill('#username', USER);
  }
  await page.fill('#password', PASSWORD);
  await page.click('#kc-login');
  // Password and phone again (the user has one), then the pairing page on the fresh sign-in.
  await waitForPushPage();
  const number = (await page.textContent('#presence-code')).trim();
  const request = await pendingRequest();
  assert.equal(JSON.parse(device('respond', request.id, '--choose', number, '--json')).status, 'accepted');
  await page.waitForSelector('#pairing-code', { timeout: 40000 });

  // Put things back (no pending action, the default age) and sign in as the next test expects.
  await admin('PUT', `${r}/users/${kcUser.id}`, { requiredActions: [] });
  await admin('DELETE', `${r}/authentication/required-actions/tapprove-enroll/config`);
  lastTokens = null;
  await page.goto(authorizeUrl());
  const landed = await page.waitForSelector('#signed-in, #password');
  if ((await landed.getAttribute('id')) === 'password') {
    if (await page.locator('#username').isEditable().catch(() => false)) {
      await page.fill('#username', USER);
    }
    await page.fill('#password', PASSWORD);
    await page.click('#kc-login');
    await waitForPushPage();
    const shown = (await page.textContent('#presence-code')).trim();
    device('respond', (await pendingRequest()).id, '--choose', shown, '--json');
  }
  await page.waitForSelector('#signed-in', { timeout: 40000 });
  assert.ok(lastTokens.id_token);
});

test('a wrong number ends the login with a clear message', { timeout: 120000 }, async () => {
  await logOut();
  const [number, request] = await loginToNumber();
  const wrong = request.options.find((o) => o !== number);
  const outcome = JSON.parse(device('respond', request.id, '--choose', wrong, '--json'));
  assert.equal(outcome.reason, 'wrong_number');
  await page.waitForSelector('#tapprove-result', { timeout: 40000 });
  assert.match(await page.textContent('#tapprove-result'), /not the one shown here/);
  assert.equal(lastTokens, null, 'the client received no tokens');
  await shot('4-wrong-number');
});

test('"not me" blocks the login and says to change the password', { timeout: 120000 }, async () => {
  await page.click('#tapprove-restart');
  await page.waitForSelector('#username');
  await page.fill('#username', USER);
  await page.fill('#password', PASSWORD);
  await page.click('#kc-login');
  await waitForPushPage();
  const request = await pendingRequest();
  const outcome = JSON.parse(device('respond', request.id, '--not-me', '--json'));
  assert.equal(outcome.reason, 'fraud_reported');
  await page.waitForSelector('#tapprove-result', { timeout: 40000 });
  const text = await page.textContent('#tapprove-result');
  assert.match(text, /not you/);
  assert.match(text, /change it now/);
  assert.equal(lastTokens, null, 'the client received no tokens');
  await shot('5-not-me');

  // Both rejections counted as failed logins for Keycloak's brute-force detection.
  const [kcUser] = await admin('GET', `/${REALM}/users?username=${USER}&exact=true`);
  let failures = 0;
  for (let i = 0; i < 50 && failures < 2; i++) {
    failures = (await admin('GET', `/${REALM}/attack-detection/brute-force/users/${kcUser.id}`)).numFailures;
    if (failures < 2) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(failures, 2, 'wrong number and not-me are failed logins');

  // "Not me" also locked pushes to this user at the service (423 locked): the next password
  // login gets no push and a page that says what to do.
  await page.click('#tapprove-restart');
  await page.waitForSelector('#username');
  await page.fill('#username', USER);
  await page.fill('#password', PASSWORD);
  await page.click('#kc-login');
  await page.waitForSelector('#tapprove-result', { timeout: 40000 });
  const locked = await page.textContent('#tapprove-result');
  assert.match(locked, /reported on your phone as not you/);
  assert.match(locked, /Change your password/);
  await shot('5b-locked');
});

test('a new password lifts the lock; entry mode: the page shows the code to type on the phone', { timeout: 120000 }, async () => {
  // The extension's event listener calls DELETE /v1/users/{user}/lock on a new password: here
  // the admin console's reset; the forgot-password flow and the account console do the same.
  // Without it the login below shows the lock page instead of a code (waitForPushPage says so).
  const [kcUser] = await admin('GET', `/${REALM}/users?username=${USER}&exact=true`);
  await admin('PUT', `/${REALM}/users/${kcUser.id}/reset-password`, { type: 'password', value: PASSWORD, temporary: false });

  const flow = await admin('GET', `/${REALM}/authentication/flows/${encodeURIComponent('tapprove browser')}/executions`);
  const push = flow.find((e) => e.providerId === 'tapprove-push');
  const config = await admin('GET', `/${REALM}/authentication/config/${push.authenticationConfig}`);
  await admin('PUT', `/${REALM}/authentication/config/${config.id}`, { ...config, config: { ...pushConfig, presence: 'entry' } });

  await page.click('#tapprove-restart');
  await page.waitForSelector('#username');
  await page.fill('#username', USER);
  await page.fill('#password', PASSWORD);
  await page.click('#kc-login');
  await waitForPushPage();
  const code = (await page.textContent('#presence-code')).trim();
  assert.match(await page.textContent('#tapprove-instruction'), /type this code/);
  const request = await pendingRequest();
  assert.ok(!request.options || request.options.length === 0, 'entry mode sends no options to the phone');
  await shot('6-entry-code');
  const outcome = JSON.parse(device('respond', request.id, '--choose', code, '--json'));
  assert.equal(outcome.status, 'accepted');
  await page.waitForSelector('#signed-in', { timeout: 40000 });
  assert.ok(lastTokens.id_token);
});

test('the account console lists the pairing under "Signing in"', { timeout: 60000 }, async () => {
  // Still signed in (entry mode): the account console opens without another push.
  await page.goto(`${KC}/realms/${REALM}/account/account-security/signing-in`);
  await page.getByText(/Tapprove phone, paired/).first().waitFor({ timeout: 30000 });
  await page.getByText('Tapprove', { exact: true }).first().waitFor({ timeout: 5000 });
  await shot('7-account-console');
});

test('the devices page lists the phone from the service; Remove revokes it there', { timeout: 60000 }, async () => {
  const devicesUrl = `${KC}/realms/${REALM}/tapprove/devices`;
  // Without the realm's sign-in cookie the page lists nothing and links to the account console.
  const anonymous = await fetch(devicesUrl);
  assert.equal(anonymous.status, 401);
  assert.match(await anonymous.text(), /id="tapprove-sign-in"/);

  await page.goto(devicesUrl);
  await page.waitForSelector('#tapprove-devices');
  const rows = page.locator('#tapprove-devices tbody tr');
  assert.equal(await rows.count(), 1);
  const cells = (await rows.first().locator('td').allTextContents()).map((t) => t.trim());
  assert.equal(cells[0], 'Test terminal');
  assert.equal(cells[1], 'no push');
  assert.match(cells[2], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/, 'paired');
  assert.match(cells[3], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/, 'last used: it answered the logins');
  assert.match(cells[4], /^(software|hardware|unknown)$/);
  await shot('8-devices');

  // A form without the session's CSRF token removes nothing.
  const deviceId = await rows.first().getAttribute('data-device-id');
  const forged = await page.evaluate(async ([url, id]) => {
    const r = await fetch(url, { method: 'POST', body: new URLSearchParams({ device: id, csrf: 'x' }) });
    return [r.status, await r.text()];
  }, [devicesUrl, deviceId]);
  assert.equal(forged[0], 400);
  assert.match(forged[1], /nothing was removed/);
  assert.equal(JSON.parse(device('requests', '--json')).length, 0, 'the device still works');

  await rows.first().locator('button', { hasText: 'Remove' }).click();
  await page.waitForSelector('#tapprove-no-devices');
  assert.match(await page.textContent('#tapprove-notice'), /can no longer approve/);
  // Revoked at the service, not only in Keycloak: the phone's own calls are refused.
  assert.throws(() => device('requests', '--json'), /removed this device/);
  // No phone left: Keycloak's pairing record went too.
  const [kcUser] = await admin('GET', `/${REALM}/users?username=${USER}&exact=true`);
  const creds = await admin('GET', `/${REALM}/users/${kcUser.id}/credentials`);
  assert.equal(creds.filter((c) => c.type === 'tapprove-device').length, 0);
});

test('removing the pairing in the account console revokes the phone at the service too', { timeout: 120000 }, async () => {
  await logOut();
  await passwordStep();
  await page.waitForSelector('#pairing-code');
  const uri = (await page.getAttribute('#enrollment-uri', 'href')).trim();
  const second = join(data, 'second-device');
  const again = (...args) => tapprove('device', ...args, '--store', second);
  JSON.parse(again('pair', '--uri', uri, '--name', 'Second terminal', '--json'));
  await page.waitForSelector('#signed-in', { timeout: 30000 });
  assert.equal(JSON.parse(again('requests', '--json')).length, 0, 'the new phone works');

  await page.goto(`${KC}/realms/${REALM}/account/account-security/signing-in`);
  const label = page.getByText(/Tapprove phone, paired/).first();
  await label.waitFor({ timeout: 30000 });
  await page.getByRole('button', { name: /^(Delete|Remove)$/ }).first().click();
  await page.getByRole('button', { name: 'Confirm deletion' }).click();
  await label.waitFor({ state: 'detached', timeout: 15000 });

  let error = null;
  for (let i = 0; i < 50 && !error; i++) {
    try {
      again('requests', '--json');
      await new Promise((r) => setTimeout(r, 100));
    } catch (e) {
      error = e;
    }
  }
  assert.match(String(error), /removed this device/);
});

test('an admin deleting the pairing credential revokes the phone at the service too', { timeout: 120000 }, async () => {
  // Leave the account console first: its own token refresh can abort the logout navigation.
  await page.goto('about:blank');
  await logOut();
  await passwordStep();
  await page.waitForSelector('#pairing-code');
  const uri = (await page.getAttribute('#enrollment-uri', 'href')).trim();
  const third = join(data, 'third-device');
  const phone = (...args) => tapprove('device', ...args, '--store', third);
  JSON.parse(phone('pair', '--uri', uri, '--name', 'Third terminal', '--json'));
  await page.waitForSelector('#signed-in', { timeout: 30000 });
  assert.equal(JSON.parse(phone('requests', '--json')).length, 0, 'the new phone works');

  const [kcUser] = await admin('GET', `/${REALM}/users?username=${USER}&exact=true`);
  const [cred] = (await admin('GET', `/${REALM}/users/${kcUser.id}/credentials`)).filter((c) => c.type === 'tapprove-device');
  await admin('DELETE', `/${REALM}/users/${kcUser.id}/credentials/${cred.id}`);
  let error = null;
  for (let i = 0; i < 50 && !error; i++) {
    try {
      phone('requests', '--json');
      await new Promise((r) => setTimeout(r, 100));
    } catch (e) {
      error = e;
    }
  }
  assert.match(String(error), /removed this device/);
});
