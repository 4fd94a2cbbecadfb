// Drives `tapprove demo` in headless Chromium: sign up → pair through the terminal
// authenticator (`tapprove device pair`, code read from the page) → log in → approve with
// `tapprove device respond` → restricted page; a cross-origin form post refused; then one
// login blocked with "not me". Then "Your devices" (list, add a phone, remove the old one:
// its next call is refused as revoked) and "I lost my phone" (a wrong recovery code removes
// nothing; password + the recovery code shown at sign-up revoke every device, a new phone
// pairs and logs in, a new recovery code replaces the spent one, which no longer works). Each phone is its own terminal-authenticator store.
// Screenshots of the key pages go to docs/screenshots/.
//
// Env: TAPPROVE_BIN (absolute path of the built binary), SCREENSHOT_DIR, CHROMIUM (default
// /usr/bin/chromium).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium, startDemo, stopDemo, testEnv } from './support.mjs';

const { BIN, SHOTS, CHROMIUM } = testEnv();

const data = mkdtempSync(join(tmpdir(), 'tapprove-browser-'));
const store = join(data, 'device');
let demo, browser, page, site, service;

/** Runs `tapprove device ARGS --store DIR` and returns stdout (throws with stderr on failure). */
function deviceIn(dir, ...args) {
  try {
    return execFileSync(BIN, ['device', ...args, '--store', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`tapprove device ${args.join(' ')} failed: ${e.stderr}`);
  }
}

/** The same with the first phone's store. */
function device(...args) {
  return deviceIn(store, ...args);
}

/** Runs `tapprove device ARGS --store DIR`, expecting it to fail; returns stdout + stderr. */
function deviceFails(dir, ...args) {
  try {
    const out = execFileSync(BIN, ['device', ...args, '--store', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    throw new Error(`tapprove device ${args.join(' ')} succeeded: ${out}`);
  } catch (e) {
    if (e.status === undefined || e.status === 0) throw e;
    return `${e.stdout}${e.stderr}`;
  }
}

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Waits until the device (store `dir`) sees a pending request and returns it. */
async function pendingRequest(dir = store) {
  for (let i = 0; i < 50; i++) {
    const list = JSON.parse(deviceIn(dir, 'requests', '--json'));
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
  ({ child: demo, site, service } = await startDemo(BIN, data));
  browser = await launchChromium(CHROMIUM);
  // One context (one cookie jar) so a second page can play the attacker's site.
  const context = await browser.newContext({ viewport: { width: 1100, height: 820 } });
  page = await context.newPage();
});

after(async () => {
  await browser?.close();
  await stopDemo(demo);
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
  // The recovery code issued with the account, shown this once.
  const recovery = (await page.textContent('#recovery-code')).trim();
  assert.match(recovery, /^([0-9A-HJKMNP-TV-Z]{4}-){3}[0-9A-HJKMNP-TV-Z]{4}$/);
  const uri = new URL((await page.textContent('#enrollment-uri')).trim().replace('tapprove://', 'http://'));
  assert.equal(uri.searchParams.get('code'), code);
  assert.equal(uri.searchParams.get('server'), service);
  assert.equal(await page.locator('.qr svg').count(), 1, 'QR code shown');
  await shot('03-pairing-code');
  await page.reload();
  assert.equal(await page.locator('#recovery-code').count(), 0, 'shown only once');
  assert.equal((await page.textContent('#pairing-code')).trim(), code);

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

/** Signs `user` up and pairs a phone (store `dir`, device name `name`) from the pairing page. */
/** Recovery codes shown at sign-up (or after a recovery), by user. */
const recoveryCodes = {};

async function signUpAndPair(user, dir, name) {
  await page.goto(`${site}/signup`);
  await page.fill('#user', user);
  await page.fill('#password', 'correct horse battery');
  await Promise.all([page.waitForURL('**/pair'), page.click('#signup')]);
  recoveryCodes[user] = (await page.textContent('#recovery-code')).trim();
  return pairFromPage(user, dir, name);
}

/** Pairs a phone (store `dir`) with the code on the pairing page; returns its account id. */
async function pairFromPage(user, dir, name) {
  const code = (await page.textContent('#pairing-code')).trim();
  const uri = new URL((await page.textContent('#enrollment-uri')).trim().replace('tapprove://', 'http://'));
  const paired = JSON.parse(deviceIn(dir, 'pair', '--server', service, '--sdk-key', uri.searchParams.get('sdk_key'),
    '--user', user, '--code', code, '--name', name, '--json'));
  assert.equal(paired.user, user);
  await page.waitForSelector('#pair-state.flash.ok', { timeout: 30000 });
  return paired.id;
}

/** Logs `user` in and approves with the phone of store `dir`; ends on the account page. */
async function logInWith(user, dir) {
  const number = await logIn(user, 'correct horse battery');
  const request = await pendingRequest(dir);
  const outcome = JSON.parse(deviceIn(dir, 'respond', request.id, '--choose', number, '--json'));
  assert.equal(outcome.status, 'accepted');
  await page.waitForURL('**/account', { timeout: 30000 });
}

/** The rows of the devices table: [{id, name, protection}]. */
async function deviceRows() {
  return page.$$eval('#devices tr[data-device]', (rows) => rows.map((r) => ({
    id: r.dataset.device,
    name: r.querySelector('.name').firstChild.textContent.trim(),
    newest: r.querySelector('.badge') !== null,
    cells: [...r.querySelectorAll('td')].map((td) => td.textContent.trim()),
  })));
}

test('"Your devices": list, add a phone, remove the old one (revoked), then none', { timeout: 180000 }, async () => {
  const oldPhone = join(data, 'bob-old');
  const newPhone = join(data, 'bob-new');
  const oldId = await signUpAndPair('bob', oldPhone, "Bob's old phone");
  await page.click('#continue');
  await logInWith('bob', oldPhone);

  await Promise.all([page.waitForURL('**/devices'), page.click('#nav-devices')]);
  let rows = await deviceRows();
  assert.equal(rows.length, 1, 'one phone listed');
  assert.equal(rows[0].id, oldId, 'the service id of the paired phone');
  assert.equal(rows[0].name, "Bob's old phone");
  // name, platform, paired on, last used (it answered the login), key protection, button
  assert.equal(rows[0].cells[1], 'No push');
  assert.match(rows[0].cells[2], /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
  assert.notEqual(rows[0].cells[3], 'Never', 'last used: it approved the login');
  assert.equal(rows[0].cells[4], 'Software', 'the terminal authenticator says its key is a software key');
  assert.equal(await page.locator('#remove-old-hint').count(), 0, 'no hint with one phone');
  await shot('09-devices');

  // Add a phone: the existing pairing flow, for a user who already has one.
  await Promise.all([page.waitForURL('**/pair'), page.click('#add-phone')]);
  const newId = await pairFromPage('bob', newPhone, "Bob's new phone");
  assert.match(await page.textContent('#pair-state'), /remove the phone it replaces/);
  await Promise.all([page.waitForURL('**/devices'), page.click('#continue')]);
  rows = await deviceRows();
  assert.deepEqual(rows.map((r) => [r.id, r.newest]), [[oldId, false], [newId, true]]);
  assert.match(await page.textContent('#remove-old-hint'), /2 devices can approve your logins/);
  await shot('10-devices-new-phone');

  // A form naming another user's device (alice's) removes nothing.
  const alice = JSON.parse(device('accounts', '--json')).find((a) => a.user === 'alice');
  const csrf = await page.getAttribute('input[name=csrf]', 'value');
  const foreign = await page.request.post(`${site}/devices/remove`, { form: { csrf, device: alice.id } });
  assert.equal(foreign.status(), 200);
  assert.match(await foreign.text(), /That device is already gone/);
  device('requests', '--account', alice.id); // alice's phone still talks to the service

  // Remove the old phone: its next call is refused as revoked, and the terminal says so.
  await Promise.all([page.waitForURL('**/devices'), page.click(`#remove-${oldId}`)]);
  assert.match(await page.textContent('#flash'), /Device removed[\s\S]*Bob's old phone/);
  rows = await deviceRows();
  assert.deepEqual(rows.map((r) => r.id), [newId]);
  const said = deviceFails(oldPhone, 'requests', '--account', oldId);
  assert.match(said, /Demo Bank removed this device from bob's account/);
  const [oldAccount] = JSON.parse(deviceIn(oldPhone, 'accounts', '--json'));
  assert.ok(oldAccount.revoked_at > 0, 'the old phone marked its account revoked');
  device('requests', '--account', alice.id);

  // The same form again: the device is already gone, and the page says so.
  const again = await page.request.post(`${site}/devices/remove`, { form: { csrf, device: oldId } });
  assert.match(await again.text(), /That device is already gone/);

  // Remove the last one: the page shows no devices.
  await Promise.all([page.waitForURL('**/devices'), page.click(`#remove-${newId}`)]);
  assert.match(await page.textContent('#flash'), /No device is paired with your account now/);
  assert.equal((await deviceRows()).length, 0);
  assert.equal(await page.locator('#no-devices').count(), 1);
  assert.match(deviceFails(newPhone, 'requests', '--account', newId), /removed this device/);
  await shot('11-devices-none');
  await page.click('#logout');
  await page.waitForURL(`${site}/`);
});

test('"I lost my phone": password + recovery code revoke every device, a new phone pairs and logs in', { timeout: 180000 }, async () => {
  const phone1 = join(data, 'carol-1');
  const phone2 = join(data, 'carol-2');
  const phone3 = join(data, 'carol-3');
  const id1 = await signUpAndPair('carol', phone1, "Carol's phone");
  await page.click('#continue');
  await logInWith('carol', phone1);
  await page.goto(`${site}/devices`);
  await page.click('#add-phone');
  const id2 = await pairFromPage('carol', phone2, "Carol's tablet");
  await page.click('#logout');
  await page.waitForURL(`${site}/`);

  // Without a password checked, the path leads back to the login.
  await page.goto(`${site}/login/lost`);
  assert.match(page.url(), /\/login$/);
  assert.match(await page.textContent('#flash'), /Enter your password first/);
  assert.match(await page.textContent('#lost-hint'), /I lost my phone/);

  // The password is right, the phone is gone: the waiting page offers the way out, which asks
  // for the recovery code too (the password alone must not re-enroll the account).
  await logIn('carol', 'correct horse battery');
  await Promise.all([page.waitForURL('**/login/lost'), page.click('#lost-phone')]);
  assert.match(await page.textContent('#recovery-explained'), /password alone is not enough/);
  assert.equal(await page.locator('#recovery-note').count(), 0, 'no insecure shortcut by default');
  const original = recoveryCodes.carol;
  const wrong = (original[0] === '0' ? '1' : '0') + original.slice(1);
  await page.fill('#recovery_code', wrong);
  await Promise.all([page.waitForURL('**/login'), page.click('#remove-all')]);
  assert.match(await page.textContent('#flash'), /That recovery code is not right/);
  // Nothing was removed: the old phone's calls still work (a revoked one's are refused).
  JSON.parse(deviceIn(phone2, 'requests', '--json'));
  // A wrong code spent the password check: log in again, then the right code.
  await logIn('carol', 'correct horse battery');
  const waiting = await pendingRequest(phone1);
  await Promise.all([page.waitForURL('**/login/lost'), page.click('#lost-phone')]);
  await page.fill('#recovery_code', original.toLowerCase());
  await shot('12-lost-phone');
  await Promise.all([page.waitForURL('**/pair'), page.click('#remove-all')]);
  assert.match(await page.textContent('#flash'), /We removed all 2 devices/);
  assert.equal(await page.locator('#recovery-note').count(), 0);
  // Single use: a new recovery code comes with the new phone.
  const renewed = (await page.textContent('#recovery-code')).trim();
  assert.notEqual(renewed, original);

  // The login that waited for the lost phone cannot be approved any more, and both old
  // devices are refused as revoked.
  const late = deviceFails(phone1, 'respond', waiting.id, '--choose', waiting.options[0]);
  assert.match(late, /removed this device/);
  assert.match(deviceFails(phone1, 'requests', '--account', id1), /Demo Bank removed this device from carol's account/);
  assert.match(deviceFails(phone2, 'requests', '--account', id2), /Demo Bank removed this device from carol's account/);

  // The new phone pairs with the code shown, and logs in.
  await pairFromPage('carol', phone3, "Carol's new phone");
  await shot('13-lost-phone-new-paired');
  await Promise.all([page.waitForURL('**/login'), page.click('#continue')]);
  await logInWith('carol', phone3);
  assert.match(await page.textContent('#restricted'), /carol/);
  await shot('14-lost-phone-signed-in');
  await page.click('#nav-devices');
  await page.waitForURL('**/devices');
  assert.deepEqual((await deviceRows()).map((r) => r.name), ["Carol's new phone"]);

  // The password check was spent: the path is closed again until the next one.
  await page.click('#logout');
  await page.waitForURL(`${site}/`);
  await page.goto(`${site}/login/lost`);
  assert.match(page.url(), /\/login$/);

  // The spent code does not work a second time.
  await logIn('carol', 'correct horse battery');
  await Promise.all([page.waitForURL('**/login/lost'), page.click('#lost-phone')]);
  await page.fill('#recovery_code', original);
  await Promise.all([page.waitForURL('**/login'), page.click('#remove-all')]);
  assert.match(await page.textContent('#flash'), /That recovery code is not right/);
  assert.ok(await pendingRequest(phone3), 'the new phone is still paired and gets the login');
});
