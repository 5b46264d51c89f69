// The JSON API (docs/api.md): the only module that knows its field names, one
// name per field. Normalizers turn answers into the UI's objects.
import { errorSentence } from './format.js';

const loc = typeof location !== 'undefined' ? location : null;
// Token (servers bound beyond loopback may require one): taken from ?token=
// on the page URL, sent as a bearer header, and appended to <img> URLs.
export const TOKEN = loc ? new URLSearchParams(loc.search).get('token') : null;
export const enc = (name) => encodeURIComponent(name);
export const withToken = (u) => (TOKEN && u && u.startsWith('/api/') ? u + (u.includes('?') ? '&' : '?') + 'token=' + enc(TOKEN) : u);

const num = (v) => (v == null || v === '' || !isFinite(+v) ? null : +v);
const list = (v) => (Array.isArray(v) ? v : []);

export const CHIP_SOURCES = ['caption', 'ocr', 'name', 'meta'];

// A result object (docs/api.md "Result object").
export function normResult(r) {
  const key = r.id != null ? String(r.id) : r.name;
  const chips = r.chips && typeof r.chips === 'object' ? r.chips : null;
  return {
    id: r.id,
    key,
    name: r.name,
    original: r.original_name || r.name,
    // A part the server did not compute is null: absent, not 0 (docs/ranking.md).
    score: num(r.score),
    clip: num(r.clip_score),
    kw: num(r.keyword_score),
    hasClip: r.clip_score != null,
    hasKw: r.keyword_score != null,
    clipMatch: r.clip_match === true,
    thumb: withToken(r.thumb_url || '/api/thumb/' + enc(key)),
    image: withToken(r.image_url || '/api/image/' + enc(key)),
    caption: r.caption || '',
    description: r.description || '',
    keywords: list(r.keywords).map(String),
    chips: chips ? Object.fromEntries(CHIP_SOURCES.map((s) => [s, list(chips[s]).map(String)])) : null,
    sources: list(r.matched_in).map((x) => String(x).toLowerCase()),
    matched: [],
    ocr: r.ocr_text || '',
    width: r.width,
    height: r.height,
    size: r.size,
    date: r.date,
    camera: r.camera || '',
    format: r.format,
    uploaded: r.uploaded === true,
  };
}

export function normSearch(j) {
  return {
    results: list(j.results).map(normResult),
    latency: num(j.latency_ms),
    keywordOnly: !!j.keyword_only,
    message: j.message,
    missingModel: j.missing_model,
    weight: num(j.clip_weight),
    similarTo: j.similar_to || null,
    total: num(j.total),
    listing: !!j.listing,
    empty: j.empty,
  };
}

export function normModel(m) {
  return {
    kind: m.kind || 'model',
    name: m.name || 'model',
    installed: !!m.installed,
    loaded: !!m.loaded,
    active: m.active === true || (m.active == null && !!m.loaded && (m.kind === 'clip' || m.kind === 'siglip')),
    answering: m.answering === true,
    coverage: num(m.coverage),
    vectors: num(m.vectors),
    command: m.install,
    path: m.path,
  };
}

export function normBuild(j) {
  j = j || {};
  const steps = j.steps && typeof j.steps === 'object' ? j.steps : null;
  return {
    running: j.state === 'running',
    state: j.state || 'idle',
    phase: j.phase || null,
    found: num(j.found),
    done: num(j.done) || 0,
    total: num(j.total) || 0,
    steps,
    current: j.current || null,
    rate: num(j.rate),
    eta: num(j.eta),
    errors: num(j.errors) || 0,
    message: j.message || null,
    last: j.last && typeof j.last === 'object' ? j.last : null,
  };
}

export function normStats(j) {
  const lat = j.latency_ms || {};
  const limits = j.limits || {};
  return {
    images: num(j.images),
    indexed: num(j.indexed),
    uploads: num(j.uploads),
    failed: num(j.failed),
    build: normBuild(j.build),
    dbBytes: num(j.db_bytes),
    thumbBytes: num(j.thumb_bytes),
    models: list(j.models).map(normModel),
    activeModel: j.active_model === undefined ? null : j.active_model,
    reembed: j.reembed && typeof j.reembed === 'object' ? { model: j.reembed.model, done: num(j.reembed.done) || 0, total: num(j.reembed.total) || 0 } : null,
    lastBuild: j.last_build,
    p50: num(lat.p50),
    p95: num(lat.p95),
    p99: num(lat.p99),
    count: num(lat.count),
    recent: list(lat.recent).map(Number),
    rss: num(j.rss_bytes),
    uptime: num(j.uptime_s),
    version: j.version,
    diskFull: j.disk_full === true,
    queryBytes: num(limits.query_bytes),
    uploadBytes: num(limits.upload_bytes),
  };
}

export function normFolder(f) {
  return { id: f.id, path: f.path, images: num(f.images), status: f.status || 'ok', watching: f.watching === true, builtin: f.builtin === true };
}

export function normFailure(f) {
  return { path: f.path, name: f.name || String(f.path || '').split('/').pop(), error: f.error || '', size: num(f.size), at: f.failed_at || null };
}

export function normDupGroup(g) {
  return { kind: g.kind === 'near' ? 'near' : 'exact', similarity: num(g.similarity), images: list(g.images).map(normResult) };
}

// The message of an error answer ({"error": {"code", "message"}}).
export const errMessage = (j) => (j && j.error && typeof j.error.message === 'string' ? j.error.message : null);
export const errCode = (j) => (j && j.error && typeof j.error.code === 'string' ? j.error.code : null);

// Listeners told whether the server answers (true) or not (false).
const reach = [];
export const onReachable = (fn) => reach.push(fn);
let reachable = true;
function setReachable(v) {
  if (v === reachable) return;
  reachable = v;
  for (const fn of reach) fn(v);
}
export const isReachable = () => reachable;
let onAuth = null;
export const onUnauthorized = (fn) => { onAuth = fn; };

// fetch + JSON. A failed answer throws an Error whose message is one sentence
// (err.status, err.code, err.body); a server that does not answer throws
// "LISA is not running." (err.offline).
export async function api(path, opts) {
  const headers = { Accept: 'application/json' };
  if (TOKEN) headers.Authorization = 'Bearer ' + TOKEN;
  if (opts && opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    opts = Object.assign({}, opts, { body: JSON.stringify(opts.json) });
    delete opts.json;
  }
  let res;
  try {
    res = await fetch(path, Object.assign({ headers }, opts));
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    setReachable(false);
    const err = new Error('LISA is not running. Start it with lisa serve, then reload this page.');
    err.offline = true;
    err.status = 0;
    throw err;
  }
  setReachable(true);
  let j = null;
  try { j = await res.json(); } catch (e) { /* not JSON */ }
  if (res.status === 401 && onAuth) onAuth();
  if (!res.ok) {
    const err = new Error(errorSentence(res.status, errMessage(j)));
    err.status = res.status;
    err.code = errCode(j);
    err.body = j;
    throw err;
  }
  return j || {};
}
