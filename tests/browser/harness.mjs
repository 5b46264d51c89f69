// Shared harness of the browser suites (tests/browser/*.test.mjs): test/assert helpers, a `lisa serve` on 127.0.0.1 with a free
// port and a temp data dir, and Chromium pages. Prints "N passed, N failed".
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
export const BUILD = process.env.BUILD || path.join(ROOT, 'build');
export const LISA = path.resolve(BUILD, 'lisa');
export const MODEL = path.resolve(BUILD, 'models/tiny-a');
export const SHOTS = path.resolve(BUILD, 'screenshots');
export const IMAGES = path.join(ROOT, 'tests/data/images');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const HOST = '127.0.0.1';
const VERBOSE = !!process.env.VERBOSE;

export const counts = { passed: 0, failed: 0 };
export const log = (...a) => console.log(...a);
export async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    counts.passed++;
    log(`[ OK ] ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    counts.failed++;
    log(`[FAIL] ${name}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join('\n       ') : e}`);
  }
}
export function assert(cond, msg) { if (!cond) throw new Error(msg || 'assertion failed'); }
export function eq(a, b, msg) { if (a !== b) throw new Error(`${msg || 'not equal'}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); }
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export async function until(fn, what, ms = 15000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last && last.message ? last.message : JSON.stringify(last)})`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}
export async function startServer(opts = {}) {
  const port = opts.port || await freePort();
  const data = opts.data || fs.mkdtempSync(path.join(os.tmpdir(), 'lisa-ux-'));
  const args = ['serve', '--data', data, '--host', HOST, '--port', String(port)];
  if (opts.model) args.push('--model', opts.model);
  if (opts.extra) args.push(...opts.extra);
  const env = Object.assign({}, process.env, { LISA_MODELS: path.join(data, 'no-models') });
  delete env.LISA_TOKEN;
  Object.assign(env, opts.env || {});
  const proc = spawn(LISA, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; if (VERBOSE) process.stdout.write('[lisa] ' + d); });
  proc.stderr.on('data', (d) => { out += d; if (VERBOSE) process.stdout.write('[lisa] ' + d); });
  const base = `http://${HOST}:${port}`;
  try {
    await until(async () => {
      if (proc.exitCode != null) throw new Error('lisa serve exited ' + proc.exitCode + ': ' + out.slice(-400));
      return (await fetch(base + '/api/health')).ok;
    }, 'lisa serve to answer /api/health', 20000);
  } catch (e) {
    proc.kill('SIGKILL');
    throw e;
  }
  return {
    base, port, data, proc, output: () => out,
    // Stops the server; keep: leave the data dir (for a restart on it).
    async stop(keep) {
      if (proc.exitCode == null) {
        proc.kill('SIGTERM');
        const code = await Promise.race([new Promise((r) => proc.once('exit', (c) => r(c))), sleep(8000).then(() => 'timeout')]);
        if (code === 'timeout') proc.kill('SIGKILL');
      }
      if (!keep) fs.rmSync(data, { recursive: true, force: true });
      return proc.exitCode;
    },
  };
}
export async function apiJson(base, p, opts) {
  const r = await fetch(base + p, opts);
  const j = await r.json();
  if (!r.ok) throw new Error(`${p}: HTTP ${r.status} ${JSON.stringify(j)}`);
  return j;
}
export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}
export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), animations: 'disabled' });
}
export async function settled(page) {
  await page.waitForFunction(() => window.lisa && !window.lisa.state.searching && !document.querySelector('#grid[aria-busy]'));
  await sleep(450);
}
export function finish() {
  log(`${counts.passed} passed, ${counts.failed} failed`);
  process.exit(counts.failed ? 1 : 0);
}

// Runs a suite's main; an exception outside every test counts as one failure.
export function run(main) {
  main().catch((e) => {
    log('[FAIL] harness: ' + (e && e.stack || e));
    counts.failed++;
    finish();
  });
}
