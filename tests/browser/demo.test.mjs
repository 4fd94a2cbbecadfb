// Drives `tapprove demo` in headless Chromium: sign up → pair through the terminal
// authenticator (`tapprove device pair`, code read from the page) → log in → approve with
// `tapprove device respond` → restricted page; a cross-origin form post refused; then one
// login blocked with "not me".
// Screenshots of the key pages go to docs/screenshots/.
//
// Env: TAPPROVE_BIN (absolute path of the built binary), SCREENSHOT_DIR, CHROMIUM (default
// /usr/bin/chromium).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BIN = process.env.TAPPROVE_BIN;
const SHOTS = process.env.SCREENSHOT_DIR;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
assert.ok(BIN, 'set TAPPROVE_BIN to the tapprove binary');
assert.ok(SHOTS, 'set SCREENSHOT_DIR');
mkdirSync(SHOTS, { recursive: true });

const data = mkdtempSync(join(tmpdir(), 'tapprove-browser-'));
const store = join(data, 'device');
let demo, browser, page, site, service;

/** Starts `tapprove demo` on free ports and resolves with the URLs it prints. */
function startDemo() {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['demo', '--data', data, '--port-service', '0', '--port-site', '0'], {
      env: { ...process.env, TAPPROVE_LOG: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`demo did not start:\n${out}`)), 60000);
    child.on('exit', (code) => reject(new Error(`demo exited early (${code}):\n${out}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const w = out.match(/Website: (\S+)/);
      const s = out.match(/Service: (\S+)/);
      if (w && s && out.includes('Press Ctrl-C')) {
        clearTimeout(timer);
        resolve({ child, site: w[1], service: s[1] });
      }
    });
  });
}

/** Runs `tapprove device ARGS --store STORE` and returns stdout (throws with stderr on failure). */
function device(...args) {
  try {
    return execFileSync(BIN, ['device', ...args, '--store', store], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`tapprove device ${args.join(' ')} failed: ${e.stderr}`);
  }
}

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Waits until the device sees a pending request and returns it. */
async function pendingRequest() {
  for (let i = 0; i < 50; i++) {
    const list = JSON.parse(device('requests', '--json'));
    if (list.length > 0) return list[0];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no login request reached the device');
}

async function logIn(user, password) {
  await page.goto(`${site}/login`);
  await page.fill('#user', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL('**/login/wait'), page.click('#login')]);
  return (await page.textContent('#presence-code')).trim();
}

before(async () => {
  ({ child: demo, site, service } = await startDemo());
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  // One context (one cookie jar) so a second page can play the attacker's site.
  const context = await browser.newContext({ viewport: { width: 1100, height: 820 } });
  page = await context.newPage();
});

after(async () => {
  await browser?.close();
  if (demo && demo.exitCode === null) {
    demo.removeAllListeners('exit');
    demo.kill('SIGTERM');
    await new Promise((r) => demo.once('exit', r));
  }
  rmSync(data, { recursive: true, force: true });
});

test('sign up, pair with the terminal authenticator, log in with number matching', { timeout: 120000 }, async () => {
  await page.goto(site);
  assert.match(await page.textContent('h1'), /Welcome to Demo Bank/);
  await shot('01-home');

  await page.click('text=Sign up');
  await page.fill('#user', 'alice');
  await page.fill('#password', 'correct horse battery');
  await shot('02-signup');
  await Promise.all([page.waitForURL('**/pair'), page.click('#signup')]);

  const code = (await page.textContent('#pairing-code')).trim();
  assert.match(code, /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/, 'XXXX-XXXX Crockford base32');
  const uri = new URL((await page.textContent('#enrollment-uri')).trim().replace('tapprove://', 'http://'));
  assert.equal(uri.searchParams.get('code'), code);
  assert.equal(uri.searchParams.get('server'), service);
  assert.equal(await page.locator('.qr svg').count(), 1, 'QR code shown');
  await shot('03-pairing-code');

  const paired = JSON.parse(device('pair', '--server', service, '--sdk-key', uri.searchParams.get('sdk_key'),
    '--user', 'alice', '--code', code, '--json'));
  assert.equal(paired.user, 'alice');
  assert.equal(paired.project_name, 'Demo Bank');
  // The page learns about the pairing through its long-poll.
  await page.waitForSelector('#pair-state.flash.ok', { timeout: 30000 });
  await shot('04-paired');

  await Promise.all([page.waitForURL('**/login'), page.click('#continue')]);
  await page.fill('#user', 'alice');
  await page.fill('#password', 'correct horse battery');
  await shot('05-login');
  await Promise.all([page.waitForURL('**/login/wait'), page.click('#login')]);
  const number = (await page.textContent('#presence-code')).trim();
  assert.match(number, /^\d{2}$/);

  const request = await pendingRequest();
  assert.equal(request.options.length, 3);
  assert.ok(request.options.includes(number), 'the page number is among the phone options');
  assert.equal(request.context.app, 'Demo Bank');
  await shot('06-choose-number');

  const outcome = JSON.parse(device('respond', request.id, '--choose', number, '--json'));
  assert.equal(outcome.status, 'accepted');
  await page.waitForURL('**/account', { timeout: 30000 });
  assert.equal(await page.locator('#restricted').count(), 1);
  assert.match(await page.textContent('#restricted'), /alice/);
  await shot('07-restricted-page');
});

test('a form posted from another page is refused and the session stays', { timeout: 60000 }, async () => {
  // A page of another origin (here about:blank, whose Origin is "null") posts to /logout.
  const evil = await page.context().newPage();
  await evil.setContent(`<form method="post" action="${site}/logout"><input name="csrf" value="guess"><button id="go">Win a prize</button></form>`);
  const [response] = await Promise.all([evil.waitForNavigation(), evil.click('#go')]);
  assert.equal(response.status(), 403);
  assert.match(await evil.textContent('#flash'), /did not come from a Demo Bank page/);
  await evil.close();
  await page.goto(`${site}/account`);
  assert.equal(await page.locator('#restricted').count(), 1, 'still logged in');
});

test('a login reported as "not me" is blocked with a clear message', { timeout: 120000 }, async () => {
  await page.click('#logout');
  await page.waitForURL(`${site}/`);
  const number = await logIn('alice', 'correct horse battery');
  const request = await pendingRequest();
  assert.ok(request.options.includes(number));
  const outcome = JSON.parse(device('respond', request.id, '--not-me', '--json'));
  assert.equal(outcome.reason, 'fraud_reported');
  await page.waitForURL('**/login/result', { timeout: 30000 });
  const flash = await page.textContent('#flash');
  assert.match(flash, /We blocked this login/);
  assert.match(flash, /change your password/);
  await shot('08-login-blocked');

  // The restricted page stays closed.
  await page.goto(`${site}/account`);
  assert.match(page.url(), /\/login$/);
});
