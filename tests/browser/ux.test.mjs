// Browser tests of issue 12's UI items (and the UI of issues 14 and 16):
// contrast of every visible text in both themes (from computed colours),
// visible focus on every control and card, the <h1>, alt text, the tray
// beside the stats panel, similar mode clearing the query, the query limit,
// "LISA is not running" with stale stats, sizes in MB, original names, and
// the contract's views (duplicates, failures, folders, build progress,
// models). Views whose endpoint the server lacks must say so clearly; the
// contract's answers are also served to the page with page.route so that the
// UI is checked against docs/api.md whatever the server has.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, assert, eq, sleep, until, startServer, apiJson, launch, shot, settled, finish, log, counts, run,
  LISA, MODEL, IMAGES, CHROMIUM, ROOT } from './harness.mjs';

const UPLOADS = ['land.jpg', 'port.jpg', 'wide.jpg', 'gray.png', 'lossy.webp'];

// ------------------------------------------------------------ in-page checks
// Every visible element with its own text: its colour against the colour
// behind it (ancestors' backgrounds composited), with opacity, as WCAG 2.x
// contrast. Large text (24 px, or 18.66 px bold) needs 3:1, the rest 4.5:1.
// Disabled controls are exempt (WCAG 1.4.3). Placeholders are checked too.
function contrastReport() {
  // rgb()/rgba() in 0..255, or color(srgb r g b / a) in 0..1 (what color-mix() computes to).
  const parse = (c) => {
    const m = c.match(/[\d.]+/g);
    if (!m) return [0, 0, 0, 0];
    const k = /^color\(srgb/.test(c) ? 255 : 1;
    return [+m[0] * k, +m[1] * k, +m[2] * k, m[3] == null ? 1 : +m[3]];
  };
  const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = (c) => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const over = (top, bot) => { const a = top[3]; return [top[0] * a + bot[0] * (1 - a), top[1] * a + bot[1] * (1 - a), top[2] * a + bot[2] * (1 - a), 1]; };
  const bgOf = (el) => {
    const layers = [];
    let op = 1;
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const cs = getComputedStyle(n);
      op *= +cs.opacity;
      const c = parse(cs.backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = parse(getComputedStyle(document.body).backgroundColor);
    if (bg[3] < 1) bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return { bg, op };
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const out = [];
  const check = (el, fg, text, large) => {
    const { bg, op } = bgOf(el);
    if (op === 0) return; // faded out (a toast leaving): not seen, so not checked
    const c = over([fg[0], fg[1], fg[2], fg[3] * op], bg);
    const r = ratio(c, bg);
    const need = large ? 3 : 4.5;
    out.push({ text: text.slice(0, 40), sel: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : ''), ratio: Math.round(r * 100) / 100, need, fg: getComputedStyle(el).color });
  };
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('[hidden], svg, script, style, .sr-only, [aria-hidden="true"]')) continue;
    if (el.closest('button:disabled, input:disabled, select:disabled, .off')) continue;
    const own = Array.from(el.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
    const cs = getComputedStyle(el);
    if (el.tagName === 'INPUT' && el.placeholder && !el.value) {
      check(el, parse(getComputedStyle(el, '::placeholder').color), 'placeholder: ' + el.placeholder, false);
    }
    if (!own) continue;
    const rect = el.getBoundingClientRect();
    if (rect.width < 1 || rect.height < 1 || cs.visibility !== 'visible' || +cs.opacity === 0) continue;
    if (rect.bottom < 0 || rect.top > innerHeight || rect.right < 0 || rect.left > innerWidth) continue;
    const size = parseFloat(cs.fontSize), bold = +cs.fontWeight >= 700;
    check(el, parse(cs.color), own, size >= 24 || (bold && size >= 18.66));
  }
  return out;
}

// ------------------------------------------------------------ the run
async function main() {
  for (const f of [LISA, CHROMIUM, path.join(MODEL, 'model.safetensors')]) {
    if (!fs.existsSync(f)) { log(`missing ${f}`); log('0 passed, 1 failed'); process.exit(1); }
  }
  let srv;
  try {
    // --no-auto-index: the views are checked in states the test sets up (a
    // build it starts); pwa.test.mjs covers indexing after upload.
    srv = await startServer({ model: MODEL, extra: ['--no-auto-index'] });
  } catch (e) {
    log('[FAIL] start lisa serve: ' + e.message);
    log('0 passed, 1 failed');
    process.exit(1);
  }
  const browser = await launch();
  const pageErrors = [];
  const contexts = [];
  async function newPage(scheme, viewport) {
    // Service workers blocked: page.route cannot see requests a service worker
    // makes; pwa.test.mjs tests the page with the worker.
    const ctx = await browser.newContext({ viewport: viewport || { width: 1360, height: 880 }, colorScheme: scheme || 'light', serviceWorkers: 'block' });
    contexts.push(ctx);
    const pg = await ctx.newPage();
    pg.on('pageerror', (e) => pageErrors.push(e.message));
    await pg.goto(srv.base + '/');
    await pg.waitForFunction(() => document.documentElement.classList.contains('ready'));
    return pg;
  }
  const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'lisa-ux-files-'));
  // A non-ASCII name (issue 12, item 1): a copy of orient2.jpg.
  const ACCENT = path.join(TMP, 'Zürich été.jpg');
  fs.copyFileSync(path.join(IMAGES, 'orient2.jpg'), ACCENT);

  let page;
  try {
    page = await newPage('light');

    await test('every file under web/ is served, .js modules as text/javascript', async () => {
      const root = path.join(ROOT, 'web');
      const files = [];
      const walk = (d, rel) => { for (const n of fs.readdirSync(d)) { if (n.startsWith('.') || n.endsWith('~')) continue; const p = path.join(d, n); if (fs.statSync(p).isDirectory()) walk(p, rel + n + '/'); else files.push(rel + n); } };
      walk(root, '');
      assert(files.filter((f) => /^js\/.+\.js$/.test(f)).length >= 8, 'modules under web/js: ' + files.join(' '));
      for (const f of files) {
        const r = await fetch(srv.base + '/' + f);
        eq(r.status, 200, 'GET /' + f);
        if (/\.m?js$/.test(f)) eq(r.headers.get('content-type'), 'text/javascript; charset=utf-8', 'type of /' + f);
        eq(Buffer.compare(Buffer.from(await r.arrayBuffer()), fs.readFileSync(path.join(root, f))), 0, 'bytes of /' + f);
      }
    });

    await test('upload + build through the UI; the tray never covers the stats panel', async () => {
      const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#upload-btn')]);
      await chooser.setFiles(UPLOADS.map((f) => path.join(IMAGES, f)).concat([ACCENT]));
      await until(async () => (await page.$$('#tray-list .up.ok, #tray-list .up.err, #tray-list .up.dup')).length === UPLOADS.length + 1, 'uploads');
      assert(await page.isVisible('#stats'), 'stats panel open on a wide screen');
      const [t, s] = await Promise.all(['#tray', '#stats'].map((sel) => page.$eval(sel, (e) => { const r = e.getBoundingClientRect(); return { l: r.left, r: r.right, t: r.top, b: r.bottom }; })));
      const overlap = !(t.r <= s.l || s.r <= t.l || t.b <= s.t || s.b <= t.t);
      assert(!overlap, `tray ${JSON.stringify(t)} covers the stats panel ${JSON.stringify(s)}`);
      await shot(page, 'ux-01-tray-beside-stats');
      // Narrow: the stats overlay is on top of the tray.
      await page.setViewportSize({ width: 800, height: 880 });
      await sleep(200);
      if (await page.isHidden('#stats')) await page.click('#stats-btn');
      const top = await page.evaluate(() => { const r = document.querySelector('#stats').getBoundingClientRect(); const e = document.elementFromPoint(r.left + r.width / 2, r.bottom - 10); return !!(e && e.closest('#stats')); });
      assert(top, 'the stats overlay is above the tray on a narrow screen');
      await page.click('#stats-close');
      await page.setViewportSize({ width: 1360, height: 880 });
      await page.click('#build-btn');
      await until(async () => (await apiJson(srv.base, '/api/stats')).images === UPLOADS.length + 1, 'build', 60000);
      await until(async () => !(await page.$('#build-btn.running')), 'build button idle');
      await page.waitForSelector('#grid .card');
      await settled(page);
    });

    await test('the page has one <h1>; alt text is the caption or the name', async () => {
      eq(await page.$$eval('h1', (e) => e.length), 1, '<h1> count');
      assert(/LISA/.test(await page.textContent('h1')), 'h1 names LISA');
      const lib = await apiJson(srv.base, '/api/library?limit=60');
      const want = new Map(lib.results.map((r) => [String(r.id), r.caption || r.original_name || r.name]));
      const alts = await page.$$eval('#grid .card', (els) => els.map((e) => [e.dataset.key, e.querySelector('img').alt]));
      eq(alts.length, lib.results.length, 'cards');
      for (const [k, alt] of alts) eq(alt, want.get(k), 'alt of card ' + k);
    });

    await test('names: the card shows the original name the server gives', async () => {
      const lib = await apiJson(srv.base, '/api/library?limit=60');
      const shown = await page.$$eval('#grid .card', (els) => els.map((e) => [e.dataset.key, e.querySelector('.card-name').textContent]));
      for (const [k, name] of shown) {
        const r = lib.results.find((x) => String(x.id) === k);
        eq(name, r.original_name || r.name, 'name on card ' + k);
      }
    });

    await test('sizes in MB and dates for people in the lightbox', async () => {
      await page.click('#grid .card .card-open');
      await page.waitForSelector('#lightbox:not([hidden])');
      const meta = await page.textContent('#lb-meta');
      assert(/File size\s*[\d.]+ (B|KB|MB)/.test(meta), 'file size for people: ' + meta);
      assert(!/\d{5,}/.test(meta.replace(/\d+ × \d+/, '')), 'no raw byte count: ' + meta);
      await shot(page, 'ux-02-lightbox-light');
      await page.keyboard.press('Escape');
    });

    for (const scheme of ['light', 'dark']) {
      await test(`contrast: every visible text is 4.5:1 (3:1 large) in the ${scheme} theme`, async () => {
        const p = await newPage(scheme);
        await p.waitForSelector('#grid .card');
        await settled(p);
        const views = [['library', async () => {}],
          ['tray', async () => {
            // An upload that works (a duplicate on the second theme's run) and one that fails.
            await p.setInputFiles('#file-input', [path.join(IMAGES, 'tiny.png'), path.join(IMAGES, 'bad/not_an_image.jpg')]);
            await until(async () => (await p.$$('#tray-list .up.ok, #tray-list .up.err, #tray-list .up.dup')).length === 2, 'tray rows');
          }],
          ['search', async () => { await p.fill('#q', 'land'); await p.press('#q', 'Enter'); await settled(p); }],
          ['lightbox', async () => { await p.click('#grid .card .card-open'); await p.waitForSelector('#lightbox:not([hidden])'); await sleep(300); }],
          ['no-results', async () => { await p.keyboard.press('Escape'); await p.fill('#q', 'xyzzy qqq'); await p.press('#q', 'Enter'); await p.waitForSelector('#empty.on'); }],
          ['settings', async () => { await p.click('[data-page="settings"]'); await sleep(400); }],
          ['duplicates', async () => { await p.click('[data-page="duplicates"]'); await sleep(400); }],
          ['failures', async () => { await p.evaluate(() => { location.hash = 'failures'; }); await sleep(400); }]];
        const bad = [];
        let n = 0;
        for (const [name, go] of views) {
          await go();
          // Colours are read once the entry animations (fades, pops) have ended.
          await p.evaluate(() => Promise.race([Promise.all(document.getAnimations().map((a) => a.finished.catch(() => {}))), new Promise((r) => setTimeout(r, 3000))]));
          const rep = await p.evaluate(contrastReport);
          n += rep.length;
          for (const r of rep) if (r.ratio < r.need) bad.push(`${name}: "${r.text}" ${r.sel} ${r.ratio}:1 < ${r.need} (${r.fg})`);
        }
        assert(n > 80, 'texts checked: ' + n);
        eq(bad.length, 0, 'low contrast:\n         ' + Array.from(new Set(bad)).slice(0, 25).join('\n         '));
        await p.evaluate(() => { location.hash = ''; });
        await p.context().close();
      });
    }

    await test('focus: every control and card shows a clear outline (not a 1 px border)', async () => {
      const p = await newPage('light');
      await p.waitForSelector('#grid .card');
      await settled(p);
      const seen = new Map();
      for (let i = 0; i < 60; i++) {
        await p.keyboard.press('Tab');
        const f = await p.evaluate(() => {
          const a = document.activeElement;
          if (!a || a === document.body) return null;
          const card = a.closest('.card');
          const box = card || a;
          const cs = getComputedStyle(box);
          const ow = cs.outlineStyle === 'none' ? 0 : parseFloat(cs.outlineWidth);
          return { id: (card ? 'card ' + card.dataset.key : a.id || a.className || a.tagName), ow, shadow: cs.boxShadow };
        });
        if (!f) continue;
        if (!seen.has(f.id)) seen.set(f.id, f);
      }
      const list = Array.from(seen.values());
      assert(list.some((f) => /^card /.test(f.id)), 'Tab reaches the cards: ' + list.map((f) => f.id).join(', '));
      assert(list.length >= 8, 'controls reached: ' + list.length);
      const weak = list.filter((f) => f.ow < 2);
      eq(weak.length, 0, 'focus without a 2+ px outline: ' + weak.map((f) => f.id + ' (' + f.ow + 'px)').join(', '));
      await p.focus('#grid .card .card-open');
      await shot(p, 'ux-03-focus-card');
      await p.context().close();
    });

    await test('similar mode clears the query box', async () => {
      await page.fill('#q', 'land');
      await page.press('#q', 'Enter');
      await settled(page);
      await page.click('#grid .card .card-open');
      await page.waitForSelector('#lightbox:not([hidden])');
      await page.click('#lb-similar');
      await page.waitForFunction(() => window.lisa.state.view === 'similar');
      await settled(page);
      eq(await page.inputValue('#q'), '', 'query box in similar mode');
      assert(/Images similar to/.test(await page.textContent('#summary')), 'summary says similar');
      await page.click('#summary button');
      await settled(page);
    });

    await test('a query over limits.query_bytes is stopped in the box with a message', async () => {
      const st = await apiJson(srv.base, '/api/stats');
      const limit = (st.limits && st.limits.query_bytes) || 1000;
      const sent = [];
      const onReq = (r) => { if (/\/api\/search/.test(r.url()) && r.url().length > limit) sent.push(r.url()); };
      page.on('request', onReq);
      await page.fill('#q', 'dog '.repeat(Math.ceil(limit / 4) + 10));
      await page.waitForSelector('#q-msg:not([hidden])');
      await sleep(500);
      page.off('request', onReq);
      const msg = await page.textContent('#q-msg');
      assert(new RegExp('the limit is ' + limit.toLocaleString('en-US') + ' bytes').test(msg), 'message: ' + msg);
      eq(sent.length, 0, 'long queries sent to the server');
      eq(await page.getAttribute('#q', 'aria-invalid'), 'true', 'box marked invalid');
      const said = (await page.textContent('body')).split('the limit is ' + limit.toLocaleString('en-US')).length - 1;
      eq(said, 1, 'the limit message is said once');
      await shot(page, 'ux-04-query-too-long');
      await page.fill('#q', '');
      await page.waitForSelector('#q-msg', { state: 'hidden' });
      await settled(page);
    });

    // ---------------------------------------------------------- the contract's answers, served to the page
    await test('build progress: found while scanning, done/total, steps, rate, ETA, current file', async () => {
      const frames = [
        { state: 'running', phase: 'scan', found: 37, done: 0, total: 0, steps: { decode: 0, ocr: 0, embed: 0, caption: 0 }, current: null, rate: null, eta: null, errors: 0, message: null, last: null },
        { state: 'running', phase: 'index', found: 40, done: 12, total: 40, steps: { decode: 14, ocr: 12, embed: 12, caption: 9 }, current: 'IMG_0042.jpg', rate: 3.2, eta: 9, errors: 1, message: null, last: null },
      ];
      let i = 0;
      await page.route('**/api/build', (route) => {
        if (route.request().method() === 'POST') return route.fulfill({ status: 202, contentType: 'application/json', body: JSON.stringify(frames[0]) });
        const f = frames[Math.min(i, frames.length - 1)];
        return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(f) });
      });
      await page.click('#build-btn');
      await page.waitForSelector('#build-detail:not([hidden])');
      await until(async () => /Scanning… 37 found/.test(await page.textContent('#build-detail')), 'scan line');
      i = 1;
      await until(async () => /Indexing 12 of 40/.test(await page.textContent('#build-detail')), 'indexing line');
      const d = await page.textContent('#build-detail');
      for (const want of ['decoded 14', 'OCR 12', 'embedded 12', 'captioned 9', '3.2 images/s', '9s left', '1 failed', 'IMG_0042.jpg'])
        assert(d.includes(want), `"${want}" in: ${d}`);
      await shot(page, 'ux-05-build-progress');
      await page.unroute('**/api/build');
      await until(async () => !(await page.$('#build-btn.running')), 'back to idle');
    });

    await test('upload of a duplicate: the tray says "already in your library as …"', async () => {
      await page.route('**/api/upload', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({
        saved: 0, failed: 0, duplicates: 1,
        files: [{ filename: 'land.jpg', ok: true, status: 200, name: 'land.jpg', original_name: 'land.jpg', duplicate_of: { id: 1, name: 'land.jpg' }, message: 'already in your library as land.jpg' }] }) }));
      await page.setInputFiles('#file-input', [path.join(IMAGES, 'land.jpg')]);
      await page.waitForSelector('#tray-list .up.dup');
      const txt = await page.textContent('#tray-list .up.dup .up-state');
      eq(txt, 'Already in your library as land.jpg', 'duplicate row');
      assert(/1 already in your library/.test(await page.textContent('#tray-title')), 'tray title counts it');
      await shot(page, 'ux-06-duplicate-upload');
      await page.unroute('**/api/upload');
      await page.click('#tray-close');
    });

    await test('duplicates page: groups, keep one, delete the other uploads, keep all', async () => {
      const real = await fetch(srv.base + '/api/duplicates');
      const lib = (await apiJson(srv.base, '/api/library?limit=60')).results;
      const groups = [
        { kind: 'exact', similarity: 1, images: [lib[0], Object.assign({}, lib[1], { uploaded: false })] },
        { kind: 'near', similarity: 0.97, images: [lib[2], lib[3]] },
      ];
      const deleted = [];
      await page.route('**/api/duplicates', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ groups, count: 2 }) }));
      await page.route('**/api/image/*', (route) => {
        if (route.request().method() !== 'DELETE') return route.continue();
        deleted.push(route.request().url().split('/').pop());
        return route.fulfill({ status: 200, contentType: 'application/json', body: '{"deleted":true}' });
      });
      await page.evaluate(() => localStorage.removeItem('lisa-dups-kept'));
      await page.click('[data-page="duplicates"]');
      await page.waitForSelector('#page-duplicates .dup-group');
      eq(await page.$$eval('.dup-group', (e) => e.length), 2, 'groups');
      assert(/Exact copies/.test(await page.textContent('.dup-group[data-kind="exact"] h3')), 'exact title');
      assert(/97% alike/.test(await page.textContent('.dup-group[data-kind="near"] h3')), 'near title with similarity');
      // The exact group keeps the folder file by default (it cannot be deleted
      // from here); keeping the upload instead leaves nothing to delete.
      assert(/delete 1 upload/.test(await page.textContent('.dup-group[data-kind="exact"] .btn-danger')), 'delete offered for the upload');
      assert(/In a folder/.test(await page.textContent('.dup-group[data-kind="exact"] .dup-img:nth-child(2)')), 'folder file marked');
      await page.check('.dup-group[data-kind="exact"] .dup-img:nth-child(1) input');
      assert(await page.isDisabled('.dup-group[data-kind="exact"] .btn-danger'), 'no delete when only a folder file is left');
      await shot(page, 'ux-07-duplicates');
      // Near group: keep the second, delete the first.
      await page.check('.dup-group[data-kind="near"] .dup-img:nth-child(2) input');
      await page.click('.dup-group[data-kind="near"] .btn-danger');
      await until(async () => (await page.$$('.dup-group')).length === 1, 'group gone');
      eq(deleted.join(), String(lib[2].id), 'deleted the unchosen upload only');
      await page.click('.dup-group .btn-ghost'); // Keep all
      await page.waitForSelector('#dups-body .page-msg');
      await page.unroute('**/api/duplicates');
      await page.unroute('**/api/image/*');
      // The real server: the groups it has, or a clear message without the endpoint.
      await page.evaluate(() => localStorage.removeItem('lisa-dups-kept'));
      await page.click('[data-page="settings"]');
      await page.click('[data-page="duplicates"]');
      if (real.status === 404) {
        await until(async () => /cannot look for duplicates yet/.test(await page.textContent('#dups-body')), 'clear message without /api/duplicates');
      } else {
        const j = await real.json();
        if (j.groups.length) await page.waitForSelector('.dup-group');
        else await until(async () => /No duplicates/.test(await page.textContent('#dups-body')), 'no duplicates message');
      }
      await page.click('#page-duplicates .page-head a');
      await page.waitForSelector('#results:not([hidden])');
    });

    await test('failures: reachable from the build result, one-click Retry', async () => {
      const fails = { count: 2, failures: [
        { path: '/data/images/big.jpg', name: 'big.jpg', error: 'big.jpg is 110 MP; the limit is 100 MP', size: 12582912, failed_at: '2026-12-02T10:00:00Z' },
        { path: '/data/images/cut.jpg', name: 'cut.jpg', error: 'cut.jpg is truncated', size: 2048, failed_at: '2026-12-02T10:00:01Z' }] };
      const retried = [];
      await page.route('**/api/failures', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(fails) }));
      await page.route('**/api/failures/retry', (route) => {
        retried.push(route.request().postData());
        return route.fulfill({ status: 202, contentType: 'application/json', body: JSON.stringify({ state: 'done', phase: null, done: 0, total: 0, errors: 0 }) });
      });
      let held = 0;
      await page.route('**/api/build', (route) => {
        if (route.request().method() === 'POST') return route.fulfill({ status: 202, contentType: 'application/json', body: JSON.stringify({ state: 'running', phase: 'index', done: 0, total: 2, errors: 0 }) });
        held++;
        const body = held < 3 ? { state: 'running', phase: 'index', done: 1, total: 2, errors: 1 } : { state: 'done', phase: null, done: 2, total: 2, errors: 2 };
        return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
      });
      await page.click('#build-btn');
      const act = await page.waitForSelector('.toast .toast-act', { timeout: 10000 });
      const t = await page.textContent('.toast:has(.toast-act)');
      assert(/2 could not be read/.test(t), 'build result names the failures: ' + t);
      await act.click();
      await page.waitForSelector('#page-failures .fail');
      eq(await page.$$eval('.fail', (e) => e.length), 2, 'failure rows');
      const row = await page.textContent('.fail[data-path="/data/images/big.jpg"]');
      assert(/big\.jpg is 110 MP; the limit is 100 MP\./.test(row) && /12 MB/.test(row), 'row: ' + row);
      await shot(page, 'ux-08-failures');
      await page.unroute('**/api/build');
      await page.click('.fail[data-path="/data/images/cut.jpg"] button');
      await until(() => retried.length === 1, 'retry sent');
      eq(JSON.parse(retried[0]).path, '/data/images/cut.jpg', 'retry of one file');
      await page.click('#retry-all');
      await until(() => retried.length === 2, 'retry all sent');
      eq(JSON.stringify(JSON.parse(retried[1])), '{}', 'retry all: no path');
      await page.unroute('**/api/failures');
      await page.unroute('**/api/failures/retry');
      // The real server: its list, or a clear message without the endpoint.
      const real = await fetch(srv.base + '/api/failures');
      await page.click('[data-page="settings"]');
      await page.evaluate(() => { location.hash = 'failures'; });
      if (real.status === 404) await until(async () => /does not list failed files yet/.test(await page.textContent('#failures-body')), 'clear message without /api/failures');
      else await until(async () => /Every file was read|Retry/.test(await page.textContent('#failures-body')), 'real failures list');
    });

    await test('settings: folders with counts and status; add and remove', async () => {
      let folders = [
        { id: 1, path: '/srv/lisa/data/images', images: 6, status: 'ok', watching: true, builtin: true },
        { id: 2, path: '/home/me/Pictures', images: 120, status: 'ok', watching: true, builtin: false },
        { id: 3, path: '/mnt/usb/photos', images: 0, status: 'missing', watching: false, builtin: false }];
      const posted = [], removed = [];
      await page.route('**/api/folders', (route) => {
        const rq = route.request();
        if (rq.method() === 'POST') {
          const body = JSON.parse(rq.postData());
          posted.push(body.path);
          if (body.path === '/nope') return route.fulfill({ status: 400, contentType: 'application/json', body: JSON.stringify({ error: { code: 'bad_request', message: '/nope is not a directory' } }) });
          const f = { id: 4, path: body.path, images: 0, status: 'ok', watching: true, builtin: false };
          folders = folders.concat([f]);
          return route.fulfill({ status: 201, contentType: 'application/json', body: JSON.stringify(f) });
        }
        return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ folders, auto_index: true }) });
      });
      await page.route('**/api/folders/*', (route) => {
        const id = +route.request().url().split('/').pop();
        removed.push(id);
        folders = folders.filter((f) => f.id !== id);
        return route.fulfill({ status: 200, contentType: 'application/json', body: '{"removed":120}' });
      });
      await page.evaluate(() => { location.hash = 'settings'; });
      await page.waitForSelector('#folders .folder');
      eq(await page.$$eval('#folders .folder', (e) => e.length), 3, 'folders listed');
      const pics = await page.textContent('#folders .folder:nth-child(2)');
      assert(/\/home\/me\/Pictures/.test(pics) && /120 images/.test(pics) && /OK/.test(pics), 'folder row: ' + pics);
      assert(/Missing/.test(await page.textContent('#folders .folder[data-status="missing"]')), 'missing status shown');
      assert(!(await page.$('#folders .folder:nth-child(1) button')), 'the uploads folder cannot be removed');
      assert(/indexed automatically/.test(await page.textContent('#auto-index')), 'auto index shown');
      await shot(page, 'ux-09-settings');
      await page.fill('#folder-path', '/nope');
      await page.click('#folder-form button');
      await until(async () => /\/nope is not a directory\./.test(await page.textContent('#folder-msg')), 'error sentence for a bad folder');
      await page.fill('#folder-path', '/home/me/More');
      await page.click('#folder-form button');
      await until(async () => (await page.$$('#folders .folder')).length === 4, 'added folder listed');
      await page.click('#folders .folder:nth-child(2) button');
      await page.click('#folders .folder:nth-child(2) button'); // second click confirms
      await until(() => removed.length === 1, 'remove sent');
      eq(removed[0], 2, 'removed folder id');
      await until(async () => (await page.$$('#folders .folder')).length === 3, 'folder gone');
      await page.unroute('**/api/folders');
      await page.unroute('**/api/folders/*');
      const real = await fetch(srv.base + '/api/folders');
      await page.click('[data-page="duplicates"]');
      await page.click('[data-page="settings"]');
      if (real.status === 404) await until(async () => /cannot list folders yet/.test(await page.textContent('#folders')), 'clear message without /api/folders');
      else await page.waitForSelector('#folders .folder');
      await page.click('#page-settings .page-head a');
    });

    await test('stats: the active model, its coverage and a re-embedding in progress', async () => {
      const st = await apiJson(srv.base, '/api/stats');
      const model = st.models.find((m) => m.kind === 'clip');
      const fake = Object.assign({}, st, { active_model: model.name, reembed: { model: 'tiny-b', done: 3, total: 8 },
        models: st.models.map((m) => Object.assign({}, m, m === model ? { active: true, coverage: 0.5 } : { active: false })) });
      await page.route('**/api/stats', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(fake) }));
      await page.evaluate(() => window.lisa.refreshStats());
      eq(await page.textContent('#active-model'), 'Searching with ' + model.name, 'active model');
      const li = await page.textContent(`#models li[data-model="${model.name}"]`);
      assert(/active/.test(li) && /50% of images embedded/.test(li), 'coverage: ' + li);
      assert(/Re-embedding for tiny-b: 3 of 8/.test(await page.textContent('#reembed')), 're-embed progress');
      await shot(page, 'ux-10-stats-models');
      await page.unroute('**/api/stats');
      await page.evaluate(() => window.lisa.refreshStats());
    });

    await test('chips grouped by source and the description sentence in the lightbox', async () => {
      const lib = await apiJson(srv.base, '/api/library?limit=60');
      const r0 = Object.assign({}, lib.results[0], { description: 'Two coffee cups on a table in Copenhagen, Denmark.',
        chips: { caption: ['coffee', 'cups', 'table'], ocr: [], name: ['land'], meta: ['copenhagen', 'denmark'] } });
      await page.route('**/api/library*', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(Object.assign({}, lib, { results: [r0].concat(lib.results.slice(1)) })) }));
      await page.evaluate(() => window.lisa.runSearch());
      await settled(page);
      await page.click(`#grid .card[data-key="${r0.id}"] .card-open`);
      await page.waitForSelector('#lightbox:not([hidden])');
      eq(await page.textContent('#lb-desc'), r0.description, 'description sentence');
      const groups = await page.$$eval('#lb-keywords .chip-group', (els) => els.map((e) => e.dataset.source + ':' + Array.from(e.querySelectorAll('.chip')).map((c) => c.textContent).join(',')));
      eq(groups.join(' | '), 'caption:coffee,cups,table | name:land | meta:copenhagen,denmark', 'chip groups');
      await shot(page, 'ux-11-lightbox-chips');
      await page.keyboard.press('Escape');
      await page.unroute('**/api/library*');
    });

    await test('dark theme screenshots of the main views', async () => {
      const p = await newPage('dark');
      await p.waitForSelector('#grid .card');
      await settled(p);
      await shot(p, 'ux-20-library-dark');
      await p.click('#grid .card .card-open');
      await p.waitForSelector('#lightbox:not([hidden])');
      await sleep(300);
      await shot(p, 'ux-21-lightbox-dark');
      await p.keyboard.press('Escape');
      await p.click('[data-page="settings"]');
      await sleep(400);
      await shot(p, 'ux-22-settings-dark');
      await p.context().close();
    });

    await test('a stopped server: "LISA is not running", stats marked stale, never "Failed to fetch"', async () => {
      await shot(page, 'ux-12-library-light');
      if (await page.isHidden('#stats')) await page.click('#stats-btn');
      await srv.stop(true);
      await page.evaluate(() => window.lisa.refreshStats());
      await page.waitForSelector('#offline-banner:not([hidden])');
      assert(/LISA is not running/.test(await page.textContent('#offline-banner')), 'banner text');
      await page.waitForSelector('#stats-stale:not([hidden])');
      assert(/stale/.test(await page.textContent('#stats-stale')), 'stale marker: ' + await page.textContent('#stats-stale'));
      assert(await page.$eval('#stats', (e) => e.classList.contains('stale')), 'panel marked stale');
      await page.fill('#q', 'anything');
      await page.press('#q', 'Enter');
      await sleep(600);
      const body = await page.textContent('body');
      assert(!/Failed to fetch|NetworkError|TypeError/i.test(body), 'raw fetch error shown');
      await shot(page, 'ux-13-offline');
      // Back up on the same data dir and port: the page reconnects by itself.
      srv = await startServer({ model: MODEL, data: srv.data, port: srv.port });
      await page.waitForSelector('#offline-banner', { state: 'hidden', timeout: 15000 });
      await page.waitForSelector('#stats-stale', { state: 'hidden' });
    });

    await test('no page errors', async () => {
      eq(pageErrors.length, 0, pageErrors.join(' | '));
    });
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
    await browser.close();
    if (srv) await srv.stop();
    fs.rmSync(TMP, { recursive: true, force: true });
  }
  finish();
}

run(main);
