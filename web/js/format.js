// Pure helpers (no DOM, no fetch): formatting, keyword matching, query parts,
// error sentences. Unit-tested with node's test runner (tests/web/*.test.mjs).

const MB = 1024 * 1024;

// Bytes for people: "512 B", "12 KB", "1.5 MB", "50 MB", "2.1 GB".
export function fmtBytes(b) {
  if (b == null || b === '' || !isFinite(b) || b < 0) return '—';
  b = Number(b);
  if (b < 1024) return b + ' B';
  if (b < MB) return Math.round(b / 1024) + ' KB';
  const u = ['MB', 'GB', 'TB'];
  let v = b / MB, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  const s = v < 10 && Math.round(v * 10) % 10 !== 0 ? v.toFixed(1) : String(Math.round(v));
  return s + ' ' + u[i];
}

export const fmtNum = (n) => (n == null || n === '' || !isFinite(n) ? '—' : Number(n).toLocaleString('en-US'));
export const fmtMs = (ms) => (ms == null || !isFinite(ms) ? '—' : ms < 10 ? Number(ms).toFixed(1) + ' ms' : Math.round(ms) + ' ms');
export const fmtScore = (s) => (s == null || !isFinite(s) ? '—' : Number(s).toFixed(2));
export const fmtPct = (f) => (f == null || !isFinite(f) ? '—' : Math.round(Math.max(0, Math.min(1, f)) * 100) + '%');
export const fmtRate = (r) => (r == null || !isFinite(r) || r <= 0 ? null : (r < 10 ? Number(r).toFixed(1) : String(Math.round(r))) + ' images/s');

// Seconds as "42s", "3m 5s", "2h 10m", "1d 3h".
export function fmtDur(s) {
  if (s == null || s === '' || !isFinite(s) || s < 0) return '—';
  s = Math.round(s);
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
}

// A date as recorded ("2021-07-14 19:02:11", EXIF "2021:07:14 ...", ISO 8601
// UTC or a Unix time) as "14 Jul 2021, 19:02". Local times stay as written:
// a string without a zone is shown with the clock it carries.
export function fmtDate(d) {
  if (d == null || d === '') return null;
  let t;
  if (typeof d === 'number') t = new Date(d * (d < 1e12 ? 1000 : 1));
  else {
    const s = String(d).replace(/^(\d{4}):(\d{2}):(\d{2})/, '$1-$2-$3');
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(s);
    t = m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0))) : new Date(s);
    if (m) return t.toLocaleString('en-GB', { timeZone: 'UTC', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }
  if (isNaN(t)) return String(d);
  return t.toLocaleString('en-GB', { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
// "2021-07-14 ..." -> "July 2021"; '' when unknown.
export function monthOf(d) {
  const m = /^(\d{4})[-:](\d{2})/.exec(String(d || ''));
  return m && +m[2] >= 1 && +m[2] <= 12 ? MONTHS[+m[2] - 1] + ' ' + m[1] : '';
}

// UTF-8 length of a string, as the server counts a query.
export const utf8Bytes = (s) => new TextEncoder().encode(String(s)).length;

// ------------------------------------------------------------ keywords
// Case- and accent-folded ("Zürich" -> "zurich").
export const fold = (s) => String(s).toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
export const stem = (w) => w.replace(/(ing|edly|ed|ly|es|s)$/, '');
export const words = (s) => fold(s).split(/[^\p{L}\p{N}]+/u).filter(Boolean);

// The words of a query worth highlighting: its own words (2+ letters) plus the
// terms the server says it searched for.
export function queryTokens(query, terms) {
  const raw = words(query || '').filter((w) => w.length > 1);
  return Array.from(new Set(raw.concat((terms || []).map(fold))));
}

// Whether a keyword matches one of the query tokens: the same word, the same
// stem, or a prefix of 3+ letters; `matched` lists words the server matched.
export function kwMatches(word, toks, matched) {
  const w = fold(word);
  if (!w) return false;
  if (matched && matched.includes(w)) return true;
  const sw = stem(w);
  return toks.some((t) => t === w || stem(t) === sw || (t.length >= 3 && w.startsWith(t)));
}

// Text split into parts [{text, hit}] for highlighting the matched words.
export function highlight(text, toks) {
  const out = [];
  for (const part of String(text || '').split(/([^\p{L}\p{N}]+)/u)) {
    if (!part) continue;
    const hit = toks.length > 0 && /[\p{L}\p{N}]/u.test(part) && kwMatches(part, toks);
    const last = out[out.length - 1];
    if (last && last.hit === hit && !hit) last.text += part;
    else out.push({ text: part, hit });
  }
  return out;
}

// ------------------------------------------------------------ query parts
export const FILTER_KEYS = ['after', 'before', 'year', 'month', 'on', 'camera', 'lens', 'type', 'folder', 'name', 'text', 'near', 'orientation', 'size', 'like'];
// The query's key:value and -word parts as the parser reads them (docs/search.md).
export function queryParts(text) {
  const parts = [];
  const re = /[-+]?(?:"[^"]*"?|[^\s"]+(?:"[^"]*"?)?)/g;
  let m;
  while ((m = re.exec(text))) {
    const raw = m[0];
    const k = /^([-+]?)([A-Za-z]{2,}):(.*)$/.exec(raw);
    if (k && FILTER_KEYS.includes(k[2].toLowerCase()))
      parts.push({ raw, start: m.index, end: m.index + raw.length, neg: k[1] === '-', key: k[2].toLowerCase(), value: k[3].replace(/^"|"$/g, '') });
    else if (/^-/.test(raw) && raw.length > 1)
      parts.push({ raw, start: m.index, end: m.index + raw.length, neg: true, key: 'not', value: raw.slice(1).replace(/^"|"$/g, '') });
  }
  return parts;
}

// ------------------------------------------------------------ messages
// One sentence for people: raw byte counts become MB, the first letter is a
// capital, it ends with a full stop, and a message that repeats itself
// ("A — A", "A: A") is said once.
export function sentence(msg) {
  let s = String(msg == null ? '' : msg).replace(/\s+/g, ' ').trim();
  if (!s) return '';
  s = s.replace(/\b(\d{4,}) bytes\b/g, (_, n) => fmtBytes(+n));
  const halves = s.split(/\s+[—–:-]\s+|:\s+/);
  if (halves.length === 2) {
    const a = fold(halves[0]).replace(/[.!]$/, ''), b = fold(halves[1]).replace(/[.!]$/, '');
    if (a && b && (b.includes(a) || a.includes(b))) s = a.length >= b.length ? halves[0] : halves[1];
  }
  // A leading plain word gets a capital; a file name ("notes.txt is ...") stays as it is.
  if (/^[a-z]+(\s|,|$)/.test(s)) s = s.charAt(0).toUpperCase() + s.slice(1);
  if (!/[.!?…]$/.test(s)) s += '.';
  return s;
}

// The sentence for a failed request: the server's message, else one by status.
export function errorSentence(status, message) {
  if (message) return sentence(message);
  if (!status) return 'LISA is not running.';
  if (status === 401) return 'This server needs an access token.';
  if (status === 404) return 'This server does not offer that yet.';
  if (status === 413) return 'The file is over the upload limit.';
  if (status === 414) return 'The request is too long.';
  if (status === 415) return 'That is not a supported image.';
  if (status >= 500) return 'The server failed (HTTP ' + status + ').';
  return 'The request failed (HTTP ' + status + ').';
}

// A query over the server's limit, as the message under the box; null when fine.
export function queryTooLong(query, limit) {
  if (!limit || !isFinite(limit)) return null;
  const n = utf8Bytes(String(query || '').trim());
  if (n <= limit) return null;
  return 'This query is ' + fmtNum(n) + ' bytes; the limit is ' + fmtNum(limit) + ' bytes. Shorten it to search.';
}

// Progress of a build for people: "Scanning… 120 found", "Indexing 12 of 40".
export function buildLine(b) {
  if (!b || !b.running) return '';
  if (b.phase === 'scan') return 'Scanning…' + (b.found ? ' ' + fmtNum(b.found) + ' found' : '');
  if (b.phase === 'hash') return b.total ? 'Checking ' + fmtNum(b.done) + ' of ' + fmtNum(b.total) + ' files' : 'Checking files…';
  if (b.phase === 'cleanup') return 'Finishing…';
  return b.total ? 'Indexing ' + fmtNum(b.done) + ' of ' + fmtNum(b.total) : 'Indexing…';
}
// ETA and rate: "3.2 images/s · 9s left".
export function buildRate(b) {
  if (!b) return '';
  const parts = [fmtRate(b.rate), b.eta != null && isFinite(b.eta) && b.eta >= 0 ? fmtDur(b.eta) + ' left' : null];
  return parts.filter(Boolean).join(' · ');
}
