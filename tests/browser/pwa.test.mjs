// The installable app (PWA) in real headless Chromium (Debian's /usr/bin/chromium
// driven by npm's playwright-core), against `build/lisa serve` on 127.0.0.1:
// - the manifest and the service worker are served with the right types;
// - Chromium parses the manifest without errors (CDP Page.getAppManifest) and
//   finds no installability error (Page.getInstallabilityErrors) once the
//   service worker is active and controls the page;
// - no /api/ answer is ever in a cache; with the server stopped the page still
//   opens from the cache and says "LISA is not running", and /api/ answers a
//   503 "offline" error instead of an old answer;
// - with a bearer token, the app opened once with ?token= works when opened
//   again on start_url (no token in the URL), and Share -> LISA (a multipart
//   POST navigation to the share_target) uploads the photo through the service
//   worker with the token and lands on the UI; the photo is then searchable
//   without a build (auto-index).
// Prints "N passed, N failed".
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MODEL, IMAGES, CHROMIUM, test, assert, eq, sleep, until, startServer, finish, log } from './harness.mjs';

const TOKEN = 'pwa-test-token-42';
const serve = (env) => startServer({ model: MODEL, extra: ['--ocr', 'off'], env });

async function context() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lisa-pwa-profile-'));
  // A persistent profile: installability is refused in incognito-like contexts.
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1200, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  ctx.dir = dir;
  return ctx;
}

async function controlled(page) {
  await page.waitForFunction(() => window.lisaPwa && window.lisaPwa.ready, null, { timeout: 15000 });
  if (!(await page.evaluate(() => !!navigator.serviceWorker.controller))) await page.reload();
  await page.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: 15000 });
}

const cachedUrls = (page) => page.evaluate(async () => {
  const out = [];
  for (const k of await caches.keys()) {
    const c = await caches.open(k);
    for (const r of await c.keys()) out.push(k + ' ' + r.url);
  }
  return out;
});

let srv, srvTok, ctx, ctx2;
try {
  srv = await serve();
  srvTok = await serve({ LISA_TOKEN: TOKEN });
} catch (e) {
  log('[FAIL] start lisa serve: ' + e.message);
  log('0 passed, 1 failed');
  process.exit(1);
}

await test('manifest and service worker are served with their types', async () => {
  const m = await fetch(srv.base + '/manifest.webmanifest');
  eq(m.status, 200, 'manifest status');
  eq(m.headers.get('content-type'), 'application/manifest+json', 'manifest type');
  const j = await m.json();
  eq(j.display, 'standalone');
  assert(j.start_url && j.name && j.short_name, 'name, short_name, start_url');
  const sizes = j.icons.map((i) => i.sizes + ' ' + i.purpose);
  for (const s of ['192x192 any', '512x512 any', '192x192 maskable', '512x512 maskable']) assert(sizes.includes(s), 'icon ' + s);
  for (const i of j.icons) {
    const r = await fetch(srv.base + i.src);
    eq(r.headers.get('content-type'), 'image/png', i.src);
    const b = Buffer.from(await r.arrayBuffer());
    eq(b.readUInt32BE(16) + 'x' + b.readUInt32BE(20), i.sizes, i.src + ' pixel size');
  }
  eq(j.share_target.method, 'POST');
  eq(j.share_target.enctype, 'multipart/form-data');
  const sw = await fetch(srv.base + '/sw.js');
  eq(sw.status, 200);
  assert(/javascript/.test(sw.headers.get('content-type')), 'sw.js type');
  const html = await (await fetch(srv.base + '/')).text();
  assert(html.includes('rel="manifest"') && html.includes('src="pwa.js"'), 'index.html links the manifest and pwa.js');
});

await test('Chromium: manifest parsed, no installability errors, service worker active', async () => {
  ctx = await context();
  const page = ctx.pages()[0] || await ctx.newPage();
  await page.goto(srv.base + '/');
  await controlled(page);
  const cdp = await ctx.newCDPSession(page);
  const m = await cdp.send('Page.getAppManifest');
  eq(m.errors.length, 0, 'manifest errors ' + JSON.stringify(m.errors));
  assert(m.url.endsWith('/manifest.webmanifest'), 'manifest url ' + m.url);
  eq(JSON.parse(m.data).short_name, 'LISA');
  const inst = await until(async () => {
    const r = await cdp.send('Page.getInstallabilityErrors');
    return r.installabilityErrors.length === 0 ? r : null;
  }, 'no installability errors', 15000).catch(async () => cdp.send('Page.getInstallabilityErrors'));
  eq(JSON.stringify(inst.installabilityErrors), '[]', 'installability errors');
  const state = await page.evaluate(async () => (await navigator.serviceWorker.getRegistration('/')).active.state);
  eq(state, 'activated');
});

await test('API answers are never cached; offline: the shell opens and says LISA is not running', async () => {
  const page = ctx.pages()[0];
  await page.evaluate(() => fetch('/api/stats').then((r) => r.json()));
  await page.evaluate(() => fetch('/api/library?limit=5').then((r) => r.json()));
  const before = await cachedUrls(page);
  assert(before.some((u) => u.endsWith('/app.js')), 'the shell is cached: ' + before.join(', '));
  assert(!before.some((u) => u.includes('/api/')), 'no API answer in a cache: ' + before.join(', '));
  await srv.stop(true); // the server is gone, really
  await page.reload();
  await page.waitForSelector('#lisa-offline', { timeout: 10000 });
  const text = await page.textContent('#lisa-offline');
  assert(text.includes('LISA is not running'), 'offline banner: ' + text);
  assert(await page.evaluate(() => !!document.querySelector('header')), 'the app shell rendered from the cache');
  const api = await page.evaluate(async () => { const r = await fetch('/api/stats'); return { s: r.status, j: await r.json() }; });
  eq(api.s, 503, 'offline API status');
  eq(api.j.error.code, 'offline');
  await ctx.close();
});

await test('token: the installed app opened on start_url keeps working; Share -> LISA uploads with it', async () => {
  ctx2 = await context();
  const page = ctx2.pages()[0] || await ctx2.newPage();
  const unauthorized = [];
  page.on('response', (r) => { if (r.url().includes('/api/') && r.status() === 401) unauthorized.push(r.url()); });
  await page.goto(srvTok.base + '/?token=' + TOKEN);
  await controlled(page);
  await page.goto(srvTok.base + '/?source=pwa'); // what the installed app opens
  await page.waitForFunction(() => document.documentElement.classList.contains('ready'), null, { timeout: 15000 });
  assert(page.url().includes('token=' + TOKEN), 'the remembered token is back on the URL: ' + page.url());
  await sleep(500);
  eq(unauthorized.length, 0, 'no 401 from the installed app: ' + unauthorized.join(', '));
  const bytes = [...fs.readFileSync(path.join(IMAGES, 'land.jpg'))];
  await page.evaluate((b) => {
    const f = document.createElement('form');
    f.method = 'POST', f.action = '/share', f.enctype = 'multipart/form-data';
    const i = document.createElement('input');
    i.type = 'file', i.name = 'files';
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(b)], 'shared_heron.jpg', { type: 'image/jpeg' }));
    i.files = dt.files;
    f.append(i);
    document.body.append(f);
    f.submit();
  }, bytes);
  await page.waitForURL(/shared=1&failed=0/, { timeout: 15000 });
  const found = await until(async () => {
    const r = await fetch(srvTok.base + '/api/search?query=heron&clip_weight=0', { headers: { Authorization: 'Bearer ' + TOKEN } });
    const j = await r.json();
    return j.results && j.results.some((x) => x.name === 'shared_heron.jpg');
  }, 'the shared photo to be searchable (auto-index)', 10000);
  assert(found);
  await ctx2.close();
});

for (const s of [srv, srvTok]) await s.stop();
for (const c of [ctx, ctx2]) if (c && c.dir) fs.rmSync(c.dir, { recursive: true, force: true });
finish();
