// `tapprove demo --policy nist-aal2` in headless Chromium (NIST SP 800-63B-4 §3.1.3): the login
// page shows a 6-digit code, the phone (the terminal authenticator) gets no options to pick
// from, and approving needs the code typed and the user verified (the authenticator's local
// passphrase). A wrong passphrase sends nothing; the right one with the code signs in.
// Screenshots go to docs/screenshots/ (15-, 16-).
//
// Env: TAPPROVE_BIN, SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium, startDemo, stopDemo, testEnv } from './support.mjs';

const { BIN, SHOTS, CHROMIUM } = testEnv();

const data = mkdtempSync(join(tmpdir(), 'tapprove-browser-nist-'));
const store = join(data, 'device');
const PASSPHRASE = 'blue tractor 42';
let demo, browser, page, site, service;

/** `tapprove device ARGS --store STORE` with `input` on stdin: { status, out }. */
function device(args, input = '') {
  try {
    const out = execFileSync(BIN, ['device', ...args, '--store', store], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
    return { status: 0, out };
  } catch (e) {
    if (e.status === undefined || e.status === null) throw e;
    return { status: e.status, out: `${e.stdout}${e.stderr}` };
  }
}

function deviceOk(args, input = '') {
  const r = device(args, input);
  assert.equal(r.status, 0, `tapprove device ${args.join(' ')} failed: ${r.out}`);
  return r.out;
}

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function pendingRequest() {
  for (let i = 0; i < 50; i++) {
    const list = JSON.parse(deviceOk(['requests', '--json']));
    if (list.length > 0) return list[0];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no login request reached the device');
}

before(async () => {
  ({ child: demo, site, service } = await startDemo(BIN, data, ['--policy', 'nist-aal2']));
  browser = await launchChromium(CHROMIUM);
  page = await (await browser.newContext({ viewport: { width: 1100, height: 820 } })).newPage();
});

after(async () => {
  await browser?.close();
  await stopDemo(demo);
  rmSync(data, { recursive: true, force: true });
});

test('nist-aal2: the page shows 6 digits; the phone approves only with the code typed and the user verified', { timeout: 180000 }, async () => {
  await page.goto(`${site}/signup`);
  await page.fill('#user', 'dana');
  await page.fill('#password', 'correct horse battery');
  await Promise.all([page.waitForURL('**/pair'), page.click('#signup')]);
  const code = (await page.textContent('#pairing-code')).trim();
  const uri = new URL((await page.textContent('#enrollment-uri')).trim().replace('tapprove://', 'http://'));
  const paired = JSON.parse(deviceOk(['pair', '--server', service, '--sdk-key', uri.searchParams.get('sdk_key'),
    '--user', 'dana', '--code', code, '--json']));
  assert.equal(paired.user, 'dana');
  deviceOk(['passphrase', 'set'], `${PASSPHRASE}\n${PASSPHRASE}\n`);
  await page.waitForSelector('#pair-state.flash.ok', { timeout: 30000 });

  await Promise.all([page.waitForURL('**/login'), page.click('#continue')]);
  await page.fill('#user', 'dana');
  await page.fill('#password', 'correct horse battery');
  await Promise.all([page.waitForURL('**/login/wait'), page.click('#login')]);
  const shown = (await page.textContent('#presence-code')).trim();
  assert.match(shown, /^\d{6}$/, `six digits on the page: ${shown}`);
  assert.match(await page.textContent('body'), /[Tt]ype/, 'the page says to type the code on the phone');
  await shot('15-nist-aal2-code');

  const request = await pendingRequest();
  assert.deepEqual(request.options ?? [], [], 'nothing to pick from: the code is typed');
  assert.equal(request.code_length, 6);
  assert.equal(request.user_verification, 'required');

  // Wrong passphrase: the user is not verified, nothing is sent, the login still waits.
  const refused = device(['respond', request.id, '--code', shown, '--json'], 'not my passphrase\n');
  assert.notEqual(refused.status, 0, refused.out);
  assert.match(refused.out, /passphrase/i);
  assert.equal(page.url().endsWith('/login/wait'), true);
  assert.equal((await pendingRequest()).id, request.id, 'the request is still open');

  const outcome = JSON.parse(deviceOk(['respond', request.id, '--code', shown, '--json'], `${PASSPHRASE}\n`));
  assert.equal(outcome.status, 'accepted');
  await page.waitForURL('**/account', { timeout: 30000 });
  assert.match(await page.textContent('#restricted'), /dana/);
  await shot('16-nist-aal2-signed-in');
});
