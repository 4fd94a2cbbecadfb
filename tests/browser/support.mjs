// What both browser tests need: `tapprove demo` on free ports, headless Chromium, and a clean
// stop of the demo.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

/** The environment both tests run in: the binary, the screenshot folder (created), Chromium. */
export function testEnv() {
  const BIN = process.env.TAPPROVE_BIN;
  const SHOTS = process.env.SCREENSHOT_DIR;
  const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
  assert.ok(BIN, 'set TAPPROVE_BIN to the tapprove binary');
  assert.ok(SHOTS, 'set SCREENSHOT_DIR');
  mkdirSync(SHOTS, { recursive: true });
  return { BIN, SHOTS, CHROMIUM };
}

/** Starts `BIN demo --data DATA [extra…]` on free ports and resolves with the URLs it prints. */
export function startDemo(bin, data, extra = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['demo', ...extra, '--data', data, '--port-service', '0', '--port-site', '0'], {
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

/** Headless Chromium at `executablePath`. */
export function launchChromium(executablePath) {
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** Stops a demo started by {@link startDemo} (SIGTERM) and waits for it to exit. */
export async function stopDemo(child) {
  if (child && child.exitCode === null) {
    child.removeAllListeners('exit');
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}
