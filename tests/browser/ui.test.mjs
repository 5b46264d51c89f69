// Browser tests of the LISA web UI in real headless Chromium (Debian's
// /usr/bin/chromium driven by npm's playwright-core). Starts `build/lisa
// serve` on 127.0.0.1 with a free port, a temp data dir and the random-weight
// fixture model build/models/tiny-a, then drives the UI like a user:
// upload (picker + drag-and-drop, with a non-image and an oversized file),
// Build Index, search, the CLIP/keyword slider, the lightbox, similar images,
// stats, theme, a second server without a CLIP model, and a 130-photo library
// (the library view, infinite scroll, sort, filter chips, the no-match state).
// Screenshots go to build/screenshots/. Prints "N passed, N failed".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  LISA, BUILD, MODEL, IMAGES, CHROMIUM, HOST, counts, run, test, assert, eq, sleep, until, startServer, apiJson, launch, shot, settled, finish, log,
} from './harness.mjs';

const UPLOAD_CAP_MB = 1; // --max-upload, in MB; the test's big.jpg is 1.5 MB
const nonIncreasing = (xs) => xs.every((x, i) => i === 0 || xs[i - 1] + 1e-6 >= x);

const resultName = (r) => r.name || path.basename(r.path || r.file || '');

// ------------------------------------------------------------ page helpers
async function cards(page) {
  return page.$$eval('#grid .card', (els) => els.map((e) => ({
    name: e.dataset.name,
    score: parseFloat(e.dataset.score),
    clip: parseFloat(e.dataset.clip),
    kw: parseFloat(e.dataset.kw),
    shownScore: e.querySelector('.card-score') ? e.querySelector('.card-score').textContent : null,
    bars: e.querySelectorAll('.bar').length,
    clipBar: e.querySelector('.bar-clip .bar-fill') && e.querySelector('.bar-clip .bar-fill').style.transform,
    kwBar: e.querySelector('.bar-kw .bar-fill') && e.querySelector('.bar-kw .bar-fill').style.transform,
    alt: e.querySelector('img') && e.querySelector('img').alt,
  })));
}
// Waits until the grid shows the answer to the latest request (no search in flight).
// ------------------------------------------------------------ the run
const uploads = ['land.jpg', 'port.jpg', 'wide.jpg', 'orient1.jpg', 'gray.png', 'lossy.webp', 'tiny.png', 'interlaced.png'];
const DROPPED = 'palette_trns.png';
const NOT_IMAGE = path.join(IMAGES, 'bad/not_an_image.jpg');
// A file with JPEG magic bytes over the 1 MB cap (written to a temp dir).
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'lisa-ui-files-'));
const TOO_BIG = path.join(TMP, 'big.jpg');
fs.writeFileSync(TOO_BIG, Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(1536 * 1024, 0x20)]));

async function main() {
  for (const f of [LISA, CHROMIUM, path.join(MODEL, 'model.safetensors')]) {
    if (!fs.existsSync(f)) { log(`missing ${f}`); log('0 passed, 1 failed'); process.exit(1); }
  }
  const requests = [];
  let srv, browser, page, ctx;
  try {
    // --no-auto-index: this server tests the Build Index button; pwa.test.mjs
    // covers indexing after upload.
    srv = await startServer({ model: MODEL, extra: ['--max-upload', String(UPLOAD_CAP_MB), '--no-auto-index'] });
  } catch (e) {
    log('[FAIL] start lisa serve: ' + e.message);
    log('0 passed, 1 failed');
    process.exit(1);
  }
  browser = await launch();
  const pageErrors = [];
  async function newPage(base, scheme) {
    ctx = await browser.newContext({ viewport: { width: 1360, height: 880 }, colorScheme: scheme || 'light' });
    const pg = await ctx.newPage();
    pg.on('request', (r) => requests.push(r.url()));
    pg.on('pageerror', (e) => pageErrors.push(e.message));
    // 4xx answers to the deliberate bad uploads are logged by Chromium as
    // "Failed to load resource"; anything else on the console is an error.
    pg.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4(13|15)/.test(m.text())) pageErrors.push('console: ' + m.text()); });
    await pg.goto(base + '/');
    await pg.waitForFunction(() => document.documentElement.classList.contains('ready'));
    return pg;
  }

  try {
    page = await newPage(srv.base);

    await test('empty library: "No images yet" state, font self-hosted, no model banner', async () => {
      await page.waitForSelector('#empty.on[data-state="no-images"]');
      const t = await page.textContent('#empty h2');
      eq(t.trim(), 'No images yet', 'empty title');
      eq(await page.isVisible('#model-banner'), false, 'model banner hidden with tiny-a installed');
      await page.evaluate(() => document.fonts.ready);
      assert(await page.evaluate(() => document.fonts.check('16px "Space Grotesk"')), 'Space Grotesk loaded');
      const fam = await page.evaluate(() => getComputedStyle(document.body).fontFamily);
      assert(/Space Grotesk/.test(fam), 'body font ' + fam);
      await shot(page, '01-empty');
    });

    await test('"/" focuses the search box', async () => {
      await page.click('body', { position: { x: 5, y: 500 } });
      await page.keyboard.press('/');
      eq(await page.evaluate(() => document.activeElement && document.activeElement.id), 'q', 'focused element');
      eq(await page.inputValue('#q'), '', '"/" not typed into the box');
      await page.keyboard.press('Tab');
    });

    await test('multi-upload with the file picker: per-file progress, 415 and 413 shown per file', async () => {
      const files = uploads.map((f) => path.join(IMAGES, f)).concat([NOT_IMAGE, TOO_BIG]);
      const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#upload-btn')]);
      assert(chooser.isMultiple(), 'file chooser accepts several files');
      await chooser.setFiles(files);
      await page.waitForSelector('#tray:not([hidden])');
      await until(async () => (await page.$$('#tray-list .up.ok, #tray-list .up.err')).length === files.length, 'all uploads to finish', 20000);
      const rows = await page.$$eval('#tray-list .up', (els) => els.map((e) => ({ file: e.dataset.file, status: e.dataset.status, err: (e.querySelector('.up-err') || {}).textContent || '', bar: e.querySelector('.up-bar') && e.querySelector('.up-bar').getAttribute('aria-valuenow') })));
      for (const f of uploads) {
        const r = rows.find((x) => x.file === f);
        assert(r, 'row for ' + f);
        eq(r.status, 'ok', 'upload of ' + f + ' (' + r.err + ')');
      }
      const bad = rows.find((x) => x.file === 'not_an_image.jpg');
      eq(bad.status, 'error', 'non-image upload fails');
      assert(/not_an_image\.jpg is not a JPEG, PNG/.test(bad.err), 'server reason shown: ' + bad.err);
      const big = rows.find((x) => x.file === 'big.jpg');
      eq(big.status, 'error', 'oversized upload fails');
      assert(/big\.jpg is over the upload limit/.test(big.err), 'server reason shown: ' + big.err);
      // One sentence per error, never said twice, sizes in MB (issue 12, item 7).
      for (const e of [bad.err, big.err]) {
        assert(!/\d{5,} bytes/.test(e), 'a size in bytes: ' + e);
        assert(!/ — /.test(e) && (e.match(/not a supported image|is not a JPEG|over the upload limit/gi) || []).length === 1, 'said once: ' + e);
      }
      assert(/uploaded/.test(await page.textContent('#tray-title')), 'tray title summarises');
    });

    await test('drag-and-drop upload onto the page', async () => {
      const b64 = fs.readFileSync(path.join(IMAGES, DROPPED)).toString('base64');
      const dt = await page.evaluateHandle(({ b64, name }) => {
        const bin = atob(b64), u8 = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
        const d = new DataTransfer();
        d.items.add(new File([u8], name, { type: 'image/png' }));
        return d;
      }, { b64, name: DROPPED });
      await page.dispatchEvent('main', 'dragenter', { dataTransfer: dt });
      assert(await page.$eval('#drop', (e) => e.classList.contains('on')), 'drop overlay shown while dragging');
      await page.dispatchEvent('main', 'drop', { dataTransfer: dt });
      await until(async () => (await page.$eval('#tray-list', (l, n) => { const r = l.querySelector(`.up[data-file="${n}"]`); return r && r.dataset.status; }, DROPPED)) === 'ok', 'dropped file uploaded');
      assert(!(await page.$eval('#drop', (e) => e.classList.contains('on'))), 'overlay hidden after drop');
      const st = await apiJson(srv.base, '/api/stats');
      eq(st.uploads, uploads.length + 1, 'uploaded files on the server');
      eq(st.images, 0, 'nothing indexed yet');
      await page.waitForSelector('#empty.on[data-state="no-index"]');
      await shot(page, '02-uploaded');
    });

    await test('Build Index: live progress, completes, index ready', async () => {
      // The tiny fixture builds in milliseconds; hold GET /api/build answers
      // back a little so the progress state is observable and photographed.
      let held = 0;
      await page.route('**/api/build', async (route) => {
        if (route.request().method() === 'GET' && held < 3) { held++; await sleep(250); }
        await route.continue().catch(() => {});
      });
      await page.click('#build-btn');
      await page.waitForSelector('#build-btn.running', { timeout: 5000 });
      await shot(page, '03-building');
      await until(async () => !(await page.$('#build-btn.running')), 'build to finish', 60000);
      const st = await apiJson(srv.base, '/api/stats');
      eq(st.images, uploads.length + 1, 'images in the index');
      eq(st.indexed, uploads.length + 1, 'images with an embedding');
      // The UI opens on the library: every photo, newest first, under month headers, no scores.
      await page.waitForSelector('#results[data-view="library"] #grid .card');
      await settled(page);
      eq((await cards(page)).length, uploads.length + 1, 'the whole library in the grid');
      assert(await page.isHidden('#empty'), 'no empty state over the library');
      assert((await page.$$('#grid .month-head')).length >= 1, 'month headers');
      eq(await page.inputValue('#sort'), '-date', 'library sorted newest first');
      const lib = await cards(page);
      assert(lib.every((c) => c.bars === 0 && c.shownScore == null), 'no score bars in the library');
      const ids = await page.$$eval('#grid .card', (els) => els.map((e) => +e.dataset.id));
      const api = await apiJson(srv.base, '/api/library?limit=60');
      eq(ids.join(), api.results.map((r) => r.id).join(), 'grid order is /api/library order');
      await shot(page, '03b-library');
      const b = await apiJson(srv.base, '/api/build');
      eq(b.state, 'done', 'GET /api/build state');
      eq((await page.$$('#tray-list .up.ok')).length, 0, 'indexed uploads leave the tray');
      eq((await page.$$('#tray-list .up.err')).length, 2, 'failures stay in the tray');
      eq(b.errors, 0, 'build errors');
    });

    // The slider case: a word from one file name that CLIP (random weights,
    // deterministic) does not rank first. w=0 -> keyword order, w=1 -> CLIP.
    let query = null, kwName = null;
    await test('search shows ranked cards with score breakdowns', async () => {
      // Only relevant images are results now: at weight 1 only CLIP hits (cosine over the
      // cut-off), at 0 only keyword hits. Pick a file-name word whose file is not CLIP-first.
      for (const f of uploads) {
        const word = f.replace(/\.[^.]+$/, '').replace(/[^a-z]/g, '');
        if (word.length < 3) continue;
        const j1 = await apiJson(srv.base, '/api/search?' + new URLSearchParams({ query: word, clip_weight: '1', top_k: '60' }));
        const j0 = await apiJson(srv.base, '/api/search?' + new URLSearchParams({ query: word, clip_weight: '0', top_k: '60' }));
        const r1 = j1.results || [], r0 = j0.results || [];
        if ((!r1.length || resultName(r1[0]) !== f) && r0.length && resultName(r0[0]) === f) { query = word; kwName = f; break; }
      }
      assert(query, 'found a query whose keyword hit is not CLIP-first');
      await page.fill('#q', query);
      await page.press('#q', 'Enter');
      await page.waitForSelector('#results[data-view="search"] #grid .card');
      await settled(page);
      const cs = await cards(page);
      assert(cs.length >= 1, 'cards, got ' + cs.length);
      assert(cs.some((c) => c.name === kwName), 'the keyword hit is a result');
      assert(nonIncreasing(cs.map((c) => c.score)), 'cards sorted by score: ' + cs.map((c) => c.score));
      const kwCard = cs.find((c) => c.name === kwName);
      assert(kwCard.score >= 0.59, 'a perfect name match reads at least 0.6 at the default weight, got ' + kwCard.score);
      assert(/Matched: name/.test(await page.textContent(`#grid .card[data-name="${kwName}"] .card-why`)), 'the card says why it matched');
      for (const c of cs) {
        eq(c.bars, 2, 'CLIP and keyword bars on ' + c.name);
        eq(c.shownScore, c.score.toFixed(2), 'shown score of ' + c.name);
        const barLen = (t) => parseFloat(/scaleX\(([^)]+)\)/.exec(t || '')[1]);
        assert(Math.abs(barLen(c.clipBar) - Math.max(0, Math.min(1, c.clip))) < 1e-4, 'CLIP bar length of ' + c.name + ': ' + c.clipBar);
        assert(Math.abs(barLen(c.kwBar) - Math.max(0, Math.min(1, c.kw))) < 1e-4, 'keyword bar length of ' + c.name + ': ' + c.kwBar);
        assert(c.alt && c.alt.length > 0, 'alt text on ' + c.name);
      }
      assert(/result/.test(await page.textContent('#summary')), 'summary shows result count');
      await shot(page, '04-results-light');
    });

    await test('weight slider re-ranks: keyword order at 0, CLIP order at 1', async () => {
      const apiCalls = [];
      const onReq = (r) => { if (r.url().includes('/api/search')) apiCalls.push(new URL(r.url()).searchParams.get('clip_weight')); };
      page.on('request', onReq);
      await page.focus('#weight');
      await page.keyboard.press('Home');
      eq(await page.inputValue('#weight'), '0', 'slider at 0');
      await until(async () => apiCalls.includes('0'), 'search with clip_weight=0');
      await settled(page);
      const c0 = await cards(page);
      eq(c0[0].name, kwName, 'keyword match first at weight 0');
      assert(nonIncreasing(c0.map((c) => c.kw)), 'keyword order at 0: ' + c0.map((c) => c.name + ':' + c.kw));
      eq(c0[0].score, c0[0].kw, 'score = keyword score at 0');
      eq(await page.textContent('#weight-out'), 'Keywords only', 'label at 0');

      await page.keyboard.press('End');
      eq(await page.inputValue('#weight'), '1', 'slider at 1');
      await until(async () => apiCalls.includes('1'), 'search with clip_weight=1');
      await settled(page);
      const c1 = await cards(page);
      assert(nonIncreasing(c1.map((c) => c.clip)), 'CLIP order at 1: ' + c1.map((c) => c.name + ':' + c.clip));
      assert(!c1.length || c1[0].name !== kwName, 'keyword match no longer first at 1');
      for (const c of c1) assert(Math.abs(c.score - c.clip) < 1e-6, 'score = clip score at 1 for ' + c.name);
      for (const c of c1) eq(c.bars, 1, 'only the CLIP bar at weight 1 (no keyword part computed) on ' + c.name);
      if (!c1.length) await page.waitForSelector('#empty.on[data-state="no-results"]');
      assert(c1.map((c) => c.name).join() !== c0.map((c) => c.name).join(), 'order changed');

      // Debounce: a quick run of key presses makes one request, not one per step.
      const before = apiCalls.length;
      for (let i = 0; i < 6; i++) await page.keyboard.press('ArrowLeft');
      // (Under a loaded machine a key press can outlast the 150 ms debounce: wait for the final
      // weight's request, then ask for fewer requests than steps.)
      await until(async () => apiCalls.length > before && apiCalls[apiCalls.length - 1] === '0.7', 'a search at the final weight 0.7 (last: ' + apiCalls[apiCalls.length - 1] + ')');
      await sleep(400);
      assert(apiCalls.length - before < 6, 'debounced: ' + (apiCalls.length - before) + ' requests for 6 steps');
      eq(apiCalls[apiCalls.length - 1], '0.7', 'last request at the final weight');
      page.off('request', onReq);
      await page.keyboard.press('Home');
      await until(async () => (await page.inputValue('#weight')) === '0', 'slider back to 0');
      await settled(page);
      eq((await cards(page))[0].name, kwName, 'keyword match first again');
    });

    await test('lightbox: full image, caption/keywords with matches, metadata, arrows, Esc', async () => {
      // weight 0 and a word of every upload's name: every upload is a keyword hit
      const words = uploads.map((f) => f.replace(/\.[^.]+$/, '').replace(/[^a-z]/g, '')).filter((w) => w.length >= 3);
      await page.fill('#q', words.join(' '));
      await page.press('#q', 'Enter');
      await until(async () => (await cards(page)).length === words.length, 'every upload a keyword hit');
      await settled(page);
      const cs = await cards(page);
      const idx = cs.findIndex((c) => c.name === kwName);
      await page.click(`#grid .card[data-name="${kwName}"] .card-open`);
      await page.waitForSelector('#lightbox:not([hidden])');
      eq(await page.textContent('#lb-title'), kwName, 'title');
      await page.waitForFunction(() => { const i = document.querySelector('#lb-img'); return i.complete && i.naturalWidth > 0; });
      assert((await page.getAttribute('#lb-img', 'src')).startsWith('/api/image/'), 'full image from /api/image/');
      assert((await page.getAttribute('#lb-img', 'alt')).length > 0, 'lightbox alt text');
      const hits = await page.$$eval('#lb-keywords .chip.hit, #lb-keywords .chip.ocr', (els) => els.map((e) => e.textContent));
      assert(hits.some((h) => h.toLowerCase().includes(query)), 'matched keyword highlighted: ' + hits);
      const meta = await page.$$eval('#lb-meta dt', (els) => els.map((e) => e.textContent));
      assert(meta.includes('Dimensions') && meta.includes('File size'), 'metadata rows: ' + meta);
      eq(await page.evaluate(() => document.activeElement && document.activeElement.id), 'lb-close', 'focus moved into the dialog');
      await shot(page, '06-lightbox');
      const pos = async () => page.textContent('#lb-pos');
      eq(await pos(), `${idx + 1} of ${cs.length}`, 'position');
      await page.keyboard.press(idx + 1 < cs.length ? 'ArrowRight' : 'ArrowLeft');
      const other = idx + 1 < cs.length ? idx + 1 : idx - 1;
      eq(await page.textContent('#lb-title'), cs[other].name, 'arrow moves to the neighbour');
      await page.keyboard.press('Escape');
      await page.waitForSelector('#lightbox', { state: 'hidden' });
    });

    await test('similar images action', async () => {
      await page.click('#grid .card .card-open');
      await page.waitForSelector('#lightbox:not([hidden])');
      const name = await page.textContent('#lb-title');
      await page.click('#lb-similar');
      await page.waitForSelector('#lightbox', { state: 'hidden' });
      await until(async () => /similar to/i.test(await page.textContent('#summary')), 'similar summary');
      await settled(page);
      const cs = await cards(page);
      assert(cs.length >= 1, 'similar results');
      assert(/similar=/.test(page.url()), 'URL keeps the similar state');
      await shot(page, '09-similar');
      assert(!cs.some((c) => c.name === name), 'the image itself is not among its similar images');
      assert(nonIncreasing(cs.map((c) => c.score)), 'similar images sorted by score');
      await page.click('#summary button');
      await until(async () => !/similar/i.test(await page.textContent('#summary')), 'similar cleared');
      await settled(page);
    });

    await test('stats panel: counts, models, latency percentiles and sparkline', async () => {
      if (await page.isHidden('#stats')) await page.click('#stats-btn');
      await page.evaluate(() => window.lisa.refreshStats());
      const cells = await page.$$eval('#stat-grid .stat', (els) => Object.fromEntries(els.map((e) => [e.querySelector('dt').textContent, e.querySelector('dd').textContent])));
      eq(cells.Images, String(uploads.length + 1), 'images stat');
      eq(cells.Uploads, String(uploads.length + 1), 'uploads stat');
      eq(cells.Indexed, String(uploads.length + 1), 'indexed stat');
      assert(/B$/.test(cells.Database), 'db size ' + cells.Database);
      const models = await page.$$eval('#models li', (els) => els.map((e) => e.className + ' ' + e.textContent));
      assert(models.some((m) => /^ok /.test(m) && /clip/i.test(m)), 'CLIP model installed: ' + models);
      const lat = await page.textContent('#lat-nums');
      assert(/p50\s*[\d.]+ ms/.test(lat) && /p95\s*[\d.]+ ms/.test(lat), 'latency numbers: ' + lat);
      const d = await page.getAttribute('#spark .line', 'd');
      assert(d && d.split('L').length >= 2, 'sparkline path: ' + d);
    });

    await test('theme toggle: dark applied, stored, kept after reload', async () => {
      const bg0 = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      await page.click('#theme-btn');
      eq(await page.getAttribute('html', 'data-theme'), 'dark', 'data-theme');
      const bg1 = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert(bg0 !== bg1, `background changed (${bg0} -> ${bg1})`);
      const lum = (c) => { const m = c.match(/\d+/g).map(Number); return 0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]; };
      assert(lum(bg1) < 60 && lum(bg0) > 200, 'dark is dark, light is light');
      eq(await page.evaluate(() => localStorage.getItem('lisa-theme')), 'dark', 'stored choice');
      await page.reload();
      await page.waitForFunction(() => document.documentElement.classList.contains('ready'));
      eq(await page.getAttribute('html', 'data-theme'), 'dark', 'kept after reload');
      await page.waitForSelector('#grid .card');
      await settled(page);
      await shot(page, '05-results-dark');
      await page.click('#theme-btn');
      eq(await page.getAttribute('html', 'data-theme'), 'light', 'toggled back');
    });

    await test('prefers-color-scheme: dark is the default without a stored choice', async () => {
      const c = await browser.newContext({ colorScheme: 'dark' });
      const p = await c.newPage();
      p.on('request', (r) => requests.push(r.url()));
      await p.goto(srv.base + '/');
      const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const m = bg.match(/\d+/g).map(Number);
      assert(m[0] + m[1] + m[2] < 120, 'dark background by default: ' + bg);
      eq(await p.getAttribute('#theme-btn', 'aria-label'), 'Switch to light theme', 'toggle label');
      await c.close();
    });

    await test('responsive: phone-sized viewport', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await sleep(300);
      const q = await page.$eval('#q', (e) => e.getBoundingClientRect().width);
      assert(q > 300, 'search box spans the width: ' + q);
      const cols = await page.$eval('#grid', (g) => getComputedStyle(g).gridTemplateColumns.split(' ').length);
      eq(cols, 2, 'two columns of cards');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 0, 'no horizontal scrolling: ' + overflow + ' px');
      await shot(page, '10-mobile');
      await page.setViewportSize({ width: 1360, height: 880 });
    });

    await test('accessibility basics: labels on controls, alt on images', async () => {
      const unlabeled = await page.$$eval('button, input:not([type=hidden]):not([hidden])', (els) => els
        .filter((e) => e.offsetParent !== null)
        .filter((e) => !(e.getAttribute('aria-label') || (e.labels && e.labels.length) || e.textContent.trim()))
        .map((e) => e.outerHTML.slice(0, 80)));
      eq(unlabeled.length, 0, 'unlabelled controls: ' + unlabeled.join(' | '));
      const noAlt = await page.$$eval('img', (els) => els.filter((e) => !e.hasAttribute('alt')).length);
      eq(noAlt, 0, 'images without alt');
    });

    await test('delete an upload: two clicks, gone from the grid, the index and the disk', async () => {
      await settled(page);
      const before = await apiJson(srv.base, '/api/stats');
      const n0 = (await cards(page)).length;
      assert(n0 >= 2, 'results to delete from: ' + n0);
      await page.click('#grid .card .card-open');
      await page.waitForSelector('#lightbox:not([hidden])');
      const name = await page.textContent('#lb-title');
      const url = await page.getAttribute('#lb-img', 'src');
      assert(await page.isVisible('#lb-delete'), 'delete offered for an upload');
      await page.click('#lb-delete');
      assert(/again/i.test(await page.textContent('#lb-delete')), 'first click only arms the button');
      await shot(page, '12-delete-armed');
      eq((await apiJson(srv.base, '/api/stats')).images, before.images, 'nothing deleted after one click');
      await page.click('#lb-delete');
      await until(async () => !(await cards(page)).some((c) => c.name === name), 'card removed from the grid');
      const after = await apiJson(srv.base, '/api/stats');
      eq(after.images, before.images - 1, 'one image fewer in the index');
      eq(after.uploads, before.uploads - 1, 'the uploaded file was deleted');
      eq((await fetch(srv.base + url)).status, 404, 'its image URL is gone');
      assert((await page.$$eval('.toast', (els) => els.map((e) => e.textContent))).some((t) => t.includes(name)), 'toast names the file');
      if (await page.isVisible('#lightbox')) {
        assert((await page.textContent('#lb-title')) !== name, 'the lightbox moved on to another image');
        await page.keyboard.press('Escape');
        await page.waitForSelector('#lightbox', { state: 'hidden' });
      }
    });

    await test('no page errors', async () => {
      eq(pageErrors.length, 0, pageErrors.join(' | '));
    });
  } finally {
    if (ctx) await ctx.close().catch(() => {});
  }

  // A second server without any CLIP model: the UI must say so and name the command.
  let srv2 = null;
  try {
    srv2 = await startServer({ extra: ['--no-auto-index'] }); // h16: uploads wait for the Build click here
    page = await newPage(srv2.base);
    await test('no CLIP model: banner/empty state with the install command, keyword-only search works', async () => {
      const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#upload-btn')]);
      await chooser.setFiles(['wide.jpg', 'land.jpg', 'port.jpg'].map((f) => path.join(IMAGES, f)));
      await until(async () => (await page.$$('#tray-list .up.ok')).length === 3, 'uploads');
      await page.click('#build-btn');
      await until(async () => (await apiJson(srv2.base, '/api/stats')).indexed === 3, 'keyword-only build');
      await until(async () => !(await page.$('#build-btn.running')), 'build button idle');
      await page.waitForSelector('#tray', { state: 'hidden' }); // all indexed: the tray closes itself
      await page.waitForSelector('#results[data-view="library"] #grid .card'); // the library, with the banner
      assert(await page.isVisible('#model-banner'), 'no-model banner over the library');
      const cmd = (await page.textContent('#model-cmd')).trim();
      eq(cmd, 'lisa models pull clip-vit-base-patch32-laion2b', 'install command');
      await shot(page, '07-no-model');
      await page.fill('#q', 'wide');
      await page.press('#q', 'Enter');
      await page.waitForSelector('#grid .card');
      await settled(page);
      assert(await page.isVisible('#model-banner'), 'banner visible while searching');
      eq((await page.textContent('#model-cmd')).trim(), 'lisa models pull clip-vit-base-patch32-laion2b', 'banner command');
      const cs = await cards(page);
      eq(cs[0].name, 'wide.jpg', 'keyword hit found without CLIP');
      assert(Number.isNaN(cs[0].clip), 'no CLIP score without a model (absent, not 0): ' + cs[0].clip);
      eq(cs[0].bars, 1, 'only the keyword bar without a model');
      eq(cs[0].shownScore, '1.00', 'a perfect name match reads 1.00 without a model');
      eq(await page.$$eval('#grid .bar-clip', (e) => e.length), 0, 'no CLIP bars without a model');
      assert(await page.isDisabled('#weight'), 'slider disabled without CLIP');
      assert(/keywords only/.test(await page.textContent('#summary')), 'results marked keywords only');
      await shot(page, '08-no-model-results');
    });

    // OCR: an image whose only link to the query is the text drawn in it
    // (tests/setup/ocr.sh renders "MAPLE STREET BAKERY" into IMG_4512.jpg).
    const ocrImg = path.join(BUILD, 'ocr/lib/IMG_4512.jpg');
    if (fs.existsSync(ocrImg)) {
      await test('OCR match: card tag, OCR chip and marked text in the lightbox', async () => {
        await page.setInputFiles('#file-input', [ocrImg]);
        await until(async () => (await page.$$('#tray-list .up.ok')).length === 1, 'upload of the OCR image');
        await page.click('#build-btn');
        await until(async () => (await apiJson(srv2.base, '/api/stats')).images === 4, 'build with OCR', 60000);
        await until(async () => !(await page.$('#build-btn.running')), 'build button idle');
        await page.fill('#q', 'bakery');
        await page.press('#q', 'Enter');
        await page.waitForSelector('#grid .card[data-name="IMG_4512.jpg"]');
        await settled(page);
        eq((await cards(page))[0].name, 'IMG_4512.jpg', 'OCR hit first');
        assert(await page.isVisible('#grid .card[data-name="IMG_4512.jpg"] .tag-ocr'), 'OCR tag on the card');
        await page.click('#grid .card[data-name="IMG_4512.jpg"] .card-open');
        await page.waitForSelector('#lightbox:not([hidden])');
        const chips = await page.$$eval('#lb-keywords .chip.ocr', (els) => els.map((e) => e.textContent));
        assert(chips.some((c) => /^bakery/.test(c)), 'OCR chip: ' + chips);
        eq(await page.textContent('#lb-ocr mark'), 'BAKERY', 'matched word marked in the OCR text');
        assert(/text in image \(OCR\)/.test(await page.textContent('#lb-matched')), 'matched-in line names OCR');
        assert(await page.isDisabled('#lb-similar'), 'similar images off without CLIP');
        await shot(page, '11-ocr-lightbox');
        await page.keyboard.press('Escape');
      });
    } else log('[SKIP] OCR match: ' + ocrImg + ' missing (sh tests/setup/ocr.sh ' + BUILD + ')');
  } catch (e) {
    counts.failed++;
    log('[FAIL] no-model server: ' + e.message);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
  }

  // A server that requires a token: without it the UI says so; with ?token= it works.
  let srv3 = null;
  try {
    srv3 = await startServer({ model: MODEL, env: { LISA_TOKEN: 'let-me-in' } });
    await test('token: asked for without it, used from ?token= with it', async () => {
      page = await newPage(srv3.base);
      await page.waitForSelector('#empty.on[data-state="auth"]');
      assert(/needs an access token/.test(await page.textContent('#empty h2')), 'auth empty state');
      await ctx.close();
      const c = await browser.newContext();
      const p = await c.newPage();
      p.on('request', (r) => requests.push(r.url()));
      const seen = [];
      p.on('request', (r) => { if (r.url().includes('/api/')) seen.push(r.headers().authorization || ''); });
      await p.goto(srv3.base + '/?token=let-me-in');
      await p.waitForSelector('#empty.on[data-state="no-images"]');
      assert(seen.length > 0 && seen.every((h) => h === 'Bearer let-me-in'), 'bearer header on every API call: ' + seen);
      await c.close();
    });
  } catch (e) {
    counts.failed++;
    log('[FAIL] token server: ' + e.message);
  }

  // A library bigger than a page (130 photos in a folder "trip", indexed in place):
  // infinite scroll for the library and for results, the no-match state, filter chips.
  let srv4 = null;
  const LIB = fs.mkdtempSync(path.join(os.tmpdir(), 'lisa-ui-lib-'));
  const NLIB = 130;
  try {
    const trip = path.join(LIB, 'trip');
    fs.mkdirSync(trip);
    const srcs = ['land.jpg', 'port.jpg', 'wide.jpg', 'orient1.jpg', 'orient3.jpg', 'orient6.jpg'];
    for (let i = 0; i < NLIB; i++) {
      const b = fs.readFileSync(path.join(IMAGES, srcs[i % srcs.length]));
      // a distinct file each (a trailing byte after the JPEG end), so no two are copies of each other
      fs.writeFileSync(path.join(trip, `photo${String(i).padStart(3, '0')}.jpg`), Buffer.concat([b, Buffer.from([i & 255, i >> 8])]));
    }
    srv4 = await startServer({ model: MODEL, extra: ['--folder', LIB] });
    await fetch(srv4.base + '/api/build', { method: 'POST' });
    await until(async () => (await apiJson(srv4.base, '/api/build')).state === 'done', 'the 130-photo build', 120000);
    page = await newPage(srv4.base);
    const gridIds = () => page.$$eval('#grid .card', (els) => els.map((e) => e.dataset.id));
    const scrollDown = async (want, what) => {
      await until(async () => {
        await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
        return (await gridIds()).length >= want;
      }, what, 30000);
      await settled(page);
    };

    await test('library: infinite scroll reaches every photo, once each', async () => {
      await page.waitForSelector('#results[data-view="library"] #grid .card');
      await settled(page);
      eq((await gridIds()).length, 60, 'first page');
      assert(/130/.test(await page.textContent('#summary')), 'summary counts the whole library: ' + await page.textContent('#summary'));
      await scrollDown(120, 'second page');
      await scrollDown(NLIB, 'third page');
      const ids = await gridIds();
      eq(ids.length, NLIB, 'every photo in the grid');
      eq(new Set(ids).size, NLIB, 'no photo twice');
      await until(async () => /All 130 photos/.test(await page.textContent('#more')), 'end of library marker');
      await shot(page, '13-library-scrolled');
    });

    await test('results: infinite scroll over a large relevant set, sort control', async () => {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.focus('#weight');
      await page.keyboard.press('Home'); // keywords only: all 130 are name hits for "trip"
      await page.fill('#q', 'trip');
      await page.press('#q', 'Enter');
      await page.waitForSelector('#results[data-view="search"] #grid .card');
      await settled(page);
      eq((await gridIds()).length, 60, 'first page of results');
      assert(/130 results/.test(await page.textContent('#summary')), 'total in the summary');
      await scrollDown(NLIB, 'all results');
      eq(new Set(await gridIds()).size, NLIB, 'every result once');
      await page.selectOption('#sort', 'name');
      await until(async () => new URL(page.url()) && (await gridIds()).length === 60, 'name order, first page again');
      await settled(page);
      eq(await page.evaluate(() => window.scrollY), 0, 'the new order is shown from its top');
      eq((await gridIds()).length, 60, 'and its second page is not fetched at once');
      const names = (await cards(page)).map((c) => c.name);
      eq(names.slice(0, 3).join(), 'photo000.jpg,photo001.jpg,photo002.jpg', 'sorted by name');
      await page.selectOption('#sort', 'relevance');
      await settled(page);
    });

    await test('filter chips: shown for the query\'s filters, removable', async () => {
      await page.fill('#q', 'trip type:jpeg -orientation:portrait name:photo00');
      await page.press('#q', 'Enter');
      await settled(page);
      const chips = await page.$$eval('#filter-chips .fchip', (els) => els.map((e) => e.textContent));
      eq(chips.length, 3, 'three chips: ' + chips);
      assert(chips[1].startsWith('not orientation'), 'negated filter chip: ' + chips[1]);
      const n3 = (await cards(page)).length;
      assert(n3 > 0 && n3 <= 10, 'name:photo00 narrows to at most ten: ' + n3);
      await shot(page, '14-filter-chips');
      await page.click('#filter-chips .fchip[data-key="name"] .fchip-x');
      await until(async () => (await page.inputValue('#q')) === 'trip type:jpeg -orientation:portrait', 'chip removed from the query');
      await settled(page);
      assert((await page.$$('#filter-chips .fchip')).length === 2, 'two chips left');
      assert((await cards(page)).length > n3, 'more results without the name filter');
    });

    await test('no matches: explicit empty state with suggestions that work', async () => {
      await page.fill('#q', 'xyzzy nothing');
      await page.press('#q', 'Enter');
      await page.waitForSelector('#empty.on[data-state="no-results"]');
      eq((await page.textContent('#empty h2')).trim(), 'No matches', 'title');
      assert(/No matches for 'xyzzy nothing'/.test(await page.textContent('#empty p')), 'the server says why: ' + await page.textContent('#empty p'));
      eq((await cards(page)).length, 0, 'no cards');
      await shot(page, '15-no-matches');
      await page.fill('#q', 'trip year:1990');
      await page.press('#q', 'Enter');
      await page.waitForSelector('#empty.on[data-state="no-results"] .suggest .tip-drop');
      await page.click('#empty .suggest .tip-drop');
      await until(async () => (await page.inputValue('#q')) === 'trip', 'suggestion dropped the filter');
      await page.waitForSelector('#grid .card');
      await page.fill('#q', 'colour:red');
      await page.press('#q', 'Enter');
      await page.waitForSelector('#empty.on[data-state="bad-query"]');
      assert(/unknown filter 'colour:'/.test(await page.textContent('#empty p')), 'the parser\'s message');
      await page.fill('#q', 'xyzzy');
      await page.press('#q', 'Enter');
      await page.waitForSelector('#empty.on[data-state="no-results"] .tip-all');
      await page.click('#empty .tip-all');
      await page.waitForSelector('#results[data-view="library"] #grid .card');
    });
  } catch (e) {
    counts.failed++;
    log('[FAIL] large-library server: ' + e.message);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
  }

  await browser.close();

  await test('every browser request stayed on 127.0.0.1', async () => {
    const bad = requests.filter((u) => !/^(data|blob):/.test(u) && new URL(u).hostname !== HOST);
    eq(bad.length, 0, 'off-host requests: ' + bad.slice(0, 5).join(', '));
    assert(requests.length > 20, 'requests were recorded (' + requests.length + ')');
  });

  await test('servers shut down cleanly on SIGTERM', async () => {
    const c1 = await srv.stop();
    const c2 = srv2 ? await srv2.stop() : 0;
    const c3 = srv3 ? await srv3.stop() : 0;
    const c4 = srv4 ? await srv4.stop() : 0;
    fs.rmSync(LIB, { recursive: true, force: true });
    eq(c4, 0, 'exit code of the large-library server');
    eq(c3, 0, 'exit code of the token server');
    eq(c1, 0, 'exit code of the first server');
    eq(c2, 0, 'exit code of the no-model server');
  });

  fs.rmSync(TMP, { recursive: true, force: true });
  finish();
}

run(main);
