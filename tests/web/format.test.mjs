// Unit tests of the web UI's pure helpers (web/js/format.js, web/js/api.js
// normalizers) under node's built-in test runner: node --test tests/web/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as f from '../../web/js/format.js';
import * as a from '../../web/js/api.js';

test('fmtBytes: B, KB, MB, GB; never raw byte counts', () => {
  assert.equal(f.fmtBytes(0), '0 B');
  assert.equal(f.fmtBytes(512), '512 B');
  assert.equal(f.fmtBytes(12 * 1024), '12 KB');
  assert.equal(f.fmtBytes(52428800), '50 MB');
  assert.equal(f.fmtBytes(1.5 * 1024 * 1024), '1.5 MB');
  assert.equal(f.fmtBytes(2483114), '2.4 MB');
  assert.equal(f.fmtBytes(3 * 1024 ** 3), '3 GB');
  assert.equal(f.fmtBytes(null), '—');
  assert.equal(f.fmtBytes(-1), '—');
  assert.equal(f.fmtBytes('x'), '—');
});

test('fmtDate: recorded local time kept, EXIF colons, ISO UTC, unknown', () => {
  assert.equal(f.fmtDate('2021-07-14 19:02:11'), '14 Jul 2021, 19:02');
  assert.equal(f.fmtDate('2021:07:14 19:02:11'), '14 Jul 2021, 19:02');
  assert.equal(f.fmtDate('2021-07-14'), '14 Jul 2021, 00:00');
  assert.equal(f.fmtDate(null), null);
  assert.equal(f.fmtDate(''), null);
  assert.equal(f.fmtDate('not a date'), 'not a date');
  assert.match(f.fmtDate('2024-11-24T14:20:03Z'), /2024/);
});

test('fmtDur, fmtMs, fmtNum, fmtPct, fmtRate', () => {
  assert.equal(f.fmtDur(42), '42s');
  assert.equal(f.fmtDur(185), '3m 5s');
  assert.equal(f.fmtDur(7800), '2h 10m');
  assert.equal(f.fmtDur(-1), '—');
  assert.equal(f.fmtMs(3.14159), '3.1 ms');
  assert.equal(f.fmtMs(42.6), '43 ms');
  assert.equal(f.fmtNum(1234567), '1,234,567');
  assert.equal(f.fmtNum(null), '—');
  assert.equal(f.fmtPct(0.873), '87%');
  assert.equal(f.fmtPct(1.2), '100%');
  assert.equal(f.fmtRate(3.21), '3.2 images/s');
  assert.equal(f.fmtRate(0), null);
});

test('monthOf: timeline headers', () => {
  assert.equal(f.monthOf('2021-07-14 19:02:11'), 'July 2021');
  assert.equal(f.monthOf('2021:12:01'), 'December 2021');
  assert.equal(f.monthOf('2021-13-01'), '');
  assert.equal(f.monthOf(null), '');
});

test('fold and words: case and accents folded, any script', () => {
  assert.equal(f.fold('Zürich Été'), 'zurich ete');
  assert.deepEqual(f.words('Zürich_Altstadt été!'), ['zurich', 'altstadt', 'ete']);
  assert.deepEqual(f.words('東京タワー 2019'), ['東京タワー', '2019']);
});

test('queryTokens and kwMatches: word, stem, prefix, diacritics', () => {
  const t = f.queryTokens('Dogs on the beach, a', ['zürich']);
  assert.deepEqual(t, ['dogs', 'on', 'the', 'beach', 'zurich']);
  assert.ok(f.kwMatches('dog', t));           // stem: dogs -> dog
  assert.ok(f.kwMatches('Beaches', t));       // prefix of 3+ letters
  assert.ok(f.kwMatches('Zürich', t));        // accents folded
  assert.ok(!f.kwMatches('cat', t));
  assert.ok(!f.kwMatches('', t));
  assert.ok(f.kwMatches('moss', [], ['moss']));
});

test('highlight: only matched words are marked, text kept whole', () => {
  const parts = f.highlight('OPEN bakery, fresh bread', ['bakery', 'bread']);
  assert.equal(parts.map((p) => p.text).join(''), 'OPEN bakery, fresh bread');
  assert.deepEqual(parts.filter((p) => p.hit).map((p) => p.text), ['bakery', 'bread']);
  assert.deepEqual(f.highlight('abc', []), [{ text: 'abc', hit: false }]);
});

test('queryParts: filters and negations with positions', () => {
  const p = f.queryParts('dog year:2021 -orientation:portrait -cat "re:union" colour:red');
  assert.deepEqual(p.map((x) => [x.key, x.value, x.neg]), [['year', '2021', false], ['orientation', 'portrait', true], ['not', 'cat', true]]);
  assert.equal('dog year:2021 -orientation'.slice(p[0].start, p[0].end), 'year:2021');
});

test('sentence: one sentence, said once, sizes in MB', () => {
  assert.equal(f.sentence('Not a supported image — notes.txt is not a supported image'), 'notes.txt is not a supported image.');
  assert.equal(f.sentence('big.jpg is over the upload limit of 52428800 bytes'), 'big.jpg is over the upload limit of 50 MB.');
  assert.equal(f.sentence('the disk is full'), 'The disk is full.');
  assert.equal(f.sentence('Too large: Too large'), 'Too large.');
  assert.equal(f.sentence('x.jpg is empty.'), 'x.jpg is empty.');
  assert.equal(f.sentence("query part 'colour:red': unknown filter 'colour:'"), "Query part 'colour:red': unknown filter 'colour:'.");
  assert.equal(f.sentence(''), '');
});

test('errorSentence: server message first, else one by status; no fetch jargon', () => {
  assert.equal(f.errorSentence(415, 'notes.txt is not a supported image'), 'notes.txt is not a supported image.');
  assert.equal(f.errorSentence(0, null), 'LISA is not running.');
  assert.equal(f.errorSentence(413, null), 'The file is over the upload limit.');
  assert.doesNotMatch(f.errorSentence(500, null), /fetch/i);
});

test('queryTooLong: bytes in UTF-8 against the server limit', () => {
  assert.equal(f.queryTooLong('short', 1000), null);
  assert.equal(f.queryTooLong('a'.repeat(1000), 1000), null);
  assert.match(f.queryTooLong('a'.repeat(1001), 1000), /1,001 bytes; the limit is 1,000 bytes/);
  assert.match(f.queryTooLong('é'.repeat(600), 1000), /1,200 bytes/); // 2 bytes each
  assert.equal(f.queryTooLong('x'.repeat(5000), null), null);
});

test('buildLine and buildRate: found while scanning, per-file counts, rate and ETA', () => {
  assert.equal(f.buildLine({ running: true, phase: 'scan', found: 120 }), 'Scanning… 120 found');
  assert.equal(f.buildLine({ running: true, phase: 'index', done: 3, total: 5 }), 'Indexing 3 of 5');
  assert.equal(f.buildLine({ running: true, phase: 'hash', done: 2, total: 9 }), 'Checking 2 of 9 files');
  assert.equal(f.buildLine({ running: true, phase: 'cleanup', done: 9, total: 9 }), 'Finishing…');
  assert.equal(f.buildLine({ running: false }), '');
  assert.equal(f.buildRate({ rate: 3.2, eta: 9 }), '3.2 images/s · 9s left');
  assert.equal(f.buildRate({ rate: null, eta: null }), '');
});

test('normResult: one name per field (docs/api.md), original name, chips by source', () => {
  const r = a.normResult({ id: 42, name: 'Zurich-1.jpg', original_name: 'Zürich.jpg', score: 0.8, clip_score: null, keyword_score: 0.5,
    matched_in: ['name'], thumb_url: '/api/thumb/42', image_url: '/api/image/42', caption: null, description: 'Coffee cups.',
    chips: { caption: ['cup'], ocr: [], name: ['zurich'], meta: ['coffee'] }, keywords: ['cup'], ocr_text: null, size: 10, uploaded: true });
  assert.equal(r.key, '42');
  assert.equal(r.original, 'Zürich.jpg');
  assert.equal(r.name, 'Zurich-1.jpg');
  assert.equal(r.clip, null);
  assert.equal(r.hasClip, false);
  assert.equal(r.kw, 0.5);
  assert.equal(r.description, 'Coffee cups.');
  assert.deepEqual(r.chips, { caption: ['cup'], ocr: [], name: ['zurich'], meta: ['coffee'] });
  // A server without original_name / chips: the name, and no groups.
  const o = a.normResult({ id: 1, name: 'a.jpg', chips: null });
  assert.equal(o.original, 'a.jpg');
  assert.equal(o.chips, null);
  // Aliases the server never sends are not read.
  assert.equal(a.normResult({ id: 1, name: 'a.jpg', file_size: 9, hits: 3 }).size, undefined);
});

test('normBuild and normStats: contract fields', () => {
  const b = a.normBuild({ state: 'running', phase: 'scan', found: 7, done: 2, total: 5, steps: { decode: 2, ocr: 1, embed: 1, caption: 0 }, current: 'x.jpg', rate: 1.5, eta: 2, errors: 1 });
  assert.equal(b.running, true);
  assert.equal(b.found, 7);
  assert.deepEqual(b.steps, { decode: 2, ocr: 1, embed: 1, caption: 0 });
  assert.equal(b.current, 'x.jpg');
  assert.equal(a.normBuild({ state: 'done' }).running, false);
  const s = a.normStats({ images: 3, limits: { query_bytes: 1000, upload_bytes: 52428800 }, active_model: 'tiny-a',
    models: [{ name: 'tiny-a', kind: 'clip', installed: true, loaded: true, active: true, coverage: 0.5 }],
    reembed: { model: 'tiny-b', done: 1, total: 4 }, latency_ms: { p50: 1, recent: [1, 2] } });
  assert.equal(s.queryBytes, 1000);
  assert.equal(s.activeModel, 'tiny-a');
  assert.equal(s.models[0].active, true);
  assert.equal(s.models[0].coverage, 0.5);
  assert.deepEqual(s.reembed, { model: 'tiny-b', done: 1, total: 4 });
  assert.equal(a.normStats({}).reembed, null);
  assert.equal(a.normStats({}).queryBytes, null);
});

test('no pick() alias guessing left in web/', async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const url = await import('node:url');
  const web = path.resolve(path.dirname(url.fileURLToPath(import.meta.url)), '../../web');
  const files = [path.join(web, 'app.js'), ...fs.readdirSync(path.join(web, 'js')).map((n) => path.join(web, 'js', n))];
  for (const p of files) assert.doesNotMatch(fs.readFileSync(p, 'utf8'), /\bpick\(/, p);
});
