// The stats panel: counts, latency, models (active, coverage, re-embedding),
// the last build (with its failures) and whether the figures are stale.
import { $, el, debounce } from './dom.js';
import { api, normStats } from './api.js';
import { fmtBytes, fmtNum, fmtMs, fmtDur, fmtDate, fmtPct } from './format.js';
import { state } from './state.js';
import { go } from './views.js';
import { pollBuild } from './build.js';

export async function refreshStats() {
  try {
    state.stats = normStats(await api('/api/stats'));
    state.statsAt = Date.now();
    state.offline = false;
    // A build the page did not start (the watcher, auto-index after an upload, another tab): follow it.
    if (state.stats.build.running && !(state.build && state.build.running)) pollBuild();
  } catch (e) {
    if (e.offline) { state.offline = true; renderStats(); }
    return false;
  }
  renderStats();
  return true;
}
export const refreshStatsSoon = debounce(refreshStats, 400);

function renderModels(st) {
  const ml = $('#models');
  ml.replaceChildren();
  for (const m of st.models) {
    const embeds = m.kind === 'clip' || m.kind === 'siglip';
    const active = embeds && (st.activeModel ? st.activeModel === m.name : m.active);
    const stateText = !m.installed ? 'missing' : active ? 'active' : m.answering ? 'answering' : 'installed';
    const li = el('li', { class: (m.installed ? 'ok' : 'missing') + (active ? ' active' : ''), title: m.path || '', 'data-model': m.name },
      el('span', { class: 'dot', 'aria-hidden': 'true' }),
      el('span', { class: 'm-name' }, el('b', { text: m.kind + ' ' }), m.name !== m.kind ? m.name : ''),
      el('span', { class: 'm-state', text: stateText }));
    if (embeds && m.installed && m.coverage != null)
      li.append(el('span', { class: 'm-cov', title: 'Images with a vector for this model', text: fmtPct(m.coverage) + ' of images embedded' }));
    ml.append(li);
  }
  if (!st.models.length) ml.append(el('li', { class: 'missing' }, el('span', { class: 'dot' }), el('span', { class: 'm-name', text: 'No models found' })));
  const re = $('#reembed');
  if (st.reembed) {
    const p = st.reembed.total ? Math.min(1, st.reembed.done / st.reembed.total) : 0;
    re.replaceChildren(
      el('span', { text: 'Re-embedding for ' + st.reembed.model + ': ' + fmtNum(st.reembed.done) + ' of ' + fmtNum(st.reembed.total) }),
      el('span', { class: 'ep-bar', role: 'progressbar', 'aria-label': 'Re-embedding', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(p * 100)) }, el('span', { style: '--p:' + p })));
  }
  re.hidden = !st.reembed;
  const am = $('#active-model');
  const act = st.activeModel || (st.models.find((m) => m.active) || {}).name;
  // While the active model's vectors are short of the library, another model may answer (h14's `answering`).
  const ans = st.models.find((m) => m.answering);
  am.textContent = !act ? 'No embedding model: keyword search only'
    : ans && ans.name !== act ? 'Searching with ' + ans.name + ' until ' + act + ' covers the library'
    : 'Searching with ' + act;
}

function renderLastBuild(st) {
  // last_build: ISO time of the last finished run; build.last: its counts
  // (only for runs of this server process).
  const last = st.build && st.build.last;
  let text = st.lastBuild ? fmtDate(st.lastBuild) : 'Never';
  if (last) {
    const added = (+last.added || 0) + (+last.changed || 0);
    text = [text, fmtNum(last.files) + ' files', added ? fmtNum(added) + ' new or changed' : 'nothing new',
      last.seconds != null ? (last.seconds < 1 ? '<1s' : fmtDur(last.seconds)) : null].filter(Boolean).join(' · ');
  }
  const failed = st.failed || 0;
  $('#last-build').replaceChildren(text, failed ? ' · ' : '',
    failed ? el('a', { href: '#failures', class: 'fail-link', onclick: (e) => { e.preventDefault(); go('failures'); } }, fmtNum(failed) + (failed === 1 ? ' file could not be read' : ' files could not be read')) : '');
}

export function renderStats() {
  const st = state.stats;
  const panel = $('#stats');
  const stale = $('#stats-stale');
  panel.classList.toggle('stale', state.offline);
  stale.hidden = !state.offline;
  stale.textContent = state.offline ? 'LISA is not running: these figures are from ' + (state.statsAt ? new Date(state.statsAt).toLocaleTimeString('en-GB') : 'before') + ' and may be stale.' : '';
  if (!st) return;
  const cell = (k, v, title) => el('div', { class: 'stat', title }, el('dt', { text: k }), el('dd', { text: v }));
  $('#stat-grid').replaceChildren(
    cell('Images', fmtNum(st.images), 'Images in the index'),
    cell('Indexed', fmtNum(st.indexed), 'Images with a vector for the active model'),
    cell('Uploads', fmtNum(st.uploads), 'Files uploaded into the data folder (indexed or not)'),
    cell('Queries', fmtNum(st.count), 'Searches measured for the latency figures (last 1000)'),
    cell('Database', fmtBytes(st.dbBytes)),
    cell('Thumbnails', fmtBytes(st.thumbBytes)),
    cell('Memory', fmtBytes(st.rss), 'Resident set size of the server'),
    cell('Uptime', fmtDur(st.uptime)));
  $('#lat-nums').replaceChildren(
    el('span', {}, 'p50 ', el('b', { text: fmtMs(st.p50) })),
    el('span', {}, 'p95 ', el('b', { text: fmtMs(st.p95) })),
    el('span', {}, 'p99 ', el('b', { text: fmtMs(st.p99) })));
  drawSpark(st.recent.length ? st.recent : state.lat, st.p95);
  renderModels(st);
  renderLastBuild(st);
  $('#stats-foot').textContent = (st.version ? 'LISA ' + st.version : 'LISA') + ' · runs entirely on this machine';
}

function drawSpark(vals, p95) {
  const svg = $('#spark');
  const W = 240, H = 56, pad = 6;
  vals = vals.filter((v) => isFinite(v)).slice(-60);
  if (vals.length === 1) vals = [vals[0], vals[0]];
  if (vals.length < 2) {
    svg.innerHTML = '<text x="120" y="32" text-anchor="middle">No queries yet</text>';
    svg.setAttribute('aria-label', 'No query latencies yet');
    return;
  }
  const max = Math.max(...vals, p95 || 0) * 1.1 || 1;
  const x = (i) => (i / (vals.length - 1)) * W;
  const y = (v) => H - pad - (v / max) * (H - 2 * pad);
  const pts = vals.map((v, i) => x(i).toFixed(1) + ',' + y(v).toFixed(1));
  let s = `<path class="area" d="M0,${H} L${pts.join(' L')} L${W},${H} Z"/>`;
  s += `<path class="line" d="M${pts.join(' L')}"/>`;
  if (p95) s += `<line class="p95" x1="0" x2="${W}" y1="${y(p95).toFixed(1)}" y2="${y(p95).toFixed(1)}"/>`;
  svg.innerHTML = s;
  svg.setAttribute('aria-label', 'Recent query latencies, last ' + fmtMs(vals[vals.length - 1]) + ', max ' + fmtMs(Math.max(...vals)));
}

export function toggleStats(on) {
  const s = $('#stats');
  s.hidden = !on;
  document.body.classList.toggle('stats-open', on);
  $('#stats-btn').setAttribute('aria-expanded', String(on));
  try { localStorage.setItem('lisa-stats', on ? '1' : '0'); } catch (e) { /* ignore */ }
  if (on) refreshStats();
}

export function initStats() {
  $('#stats-btn').addEventListener('click', () => toggleStats($('#stats').hidden));
  $('#stats-close').addEventListener('click', () => toggleStats(false));
}
