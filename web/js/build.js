// Build Index: the button, the progress line (found/done/total, steps, rate,
// ETA, the current file) and the result, with a link to the failures.
import { $, el, toast } from './dom.js';
import { api, normBuild } from './api.js';
import { fmtNum, buildLine, buildRate } from './format.js';
import { state } from './state.js';
import { render } from './library.js';
import { runSearch } from './search.js';
import { refreshStats, refreshStatsSoon } from './stats.js';
import { updateTrayTitle, clearIndexed } from './upload.js';
import { go } from './views.js';

let buildTimer = 0;
const STEPS = [['decode', 'decoded'], ['ocr', 'OCR'], ['embed', 'embedded'], ['caption', 'captioned']];

function detailParts(b) {
  const parts = [];
  if (b.steps) for (const [k, label] of STEPS) if (b.steps[k] != null) parts.push(label + ' ' + fmtNum(b.steps[k]));
  const rate = buildRate(b);
  if (rate) parts.push(rate);
  if (b.errors) parts.push(fmtNum(b.errors) + (b.errors === 1 ? ' failed' : ' failed'));
  return parts;
}

export function renderBuild() {
  const b = state.build;
  const btn = $('#build-btn');
  const txt = $('.build-text', btn);
  const bar = $('#build-progress');
  const detail = $('#build-detail');
  btn.classList.toggle('running', !!(b && b.running));
  if (b && b.running) {
    const p = b.total ? Math.min(1, b.done / b.total) : 0;
    btn.style.setProperty('--p', p);
    bar.style.setProperty('--p', p);
    bar.classList.add('on');
    const pct = Math.round(p * 100) + '%';
    txt.textContent = !b.total || b.phase === 'scan' || b.phase === 'cleanup' ? buildLine(b) : (b.phase === 'hash' ? 'Checking ' : 'Indexing ') + pct;
    const line = buildLine(b);
    btn.title = [line].concat(detailParts(b)).join(' · ');
    btn.setAttribute('aria-busy', 'true');
    detail.replaceChildren(el('b', { text: line }), ...detailParts(b).map((t) => el('span', { text: t })),
      b.current ? el('span', { class: 'bd-cur', title: b.current, text: 'now ' + b.current }) : null);
    detail.hidden = false;
    $('#build-status').textContent = line;
  } else {
    btn.style.setProperty('--p', 0);
    bar.classList.remove('on');
    txt.textContent = 'Build Index';
    btn.title = 'Index new and changed images';
    btn.removeAttribute('aria-busy');
    detail.hidden = true;
  }
}

export async function pollBuild() {
  clearTimeout(buildTimer);
  let b;
  try { b = normBuild(await api('/api/build')); } catch (e) { buildTimer = setTimeout(pollBuild, 2000); return; }
  const was = state.build && state.build.running;
  state.build = b;
  renderBuild();
  const es = $('#empty').dataset.state;
  if (b.running && (es === 'building' || es === 'no-index')) render();
  if (b.running) {
    buildTimer = setTimeout(pollBuild, 400);
    refreshStatsSoon();
  } else if (was) {
    finishBuild(b);
  }
}

const showFailures = { label: 'Show failures', onclick: () => go('failures') };

async function finishBuild(b) {
  const n = b.total || b.done;
  if (b.state === 'failed' || b.state === 'cancelled') {
    renderBuild();
    toast(b.message ? 'The index build ' + b.state + ': ' + b.message : 'The index build ' + b.state + '.', 'error');
    await refreshStats();
    render();
    return;
  }
  $('#build-status').textContent = 'Index built';
  clearIndexed();
  const btn = $('#build-btn');
  btn.classList.add('done');
  btn.classList.toggle('failed', !!b.errors);
  $('.build-text', btn).textContent = b.errors ? 'Done · ' + b.errors + ' failed' : 'Index ready';
  setTimeout(() => { btn.classList.remove('done', 'failed'); renderBuild(); }, 1800);
  if (b.errors) toast('Indexed ' + fmtNum(n) + ' images; ' + fmtNum(b.errors) + ' could not be read.', 'error', showFailures);
  else toast(n ? 'Index ready: ' + fmtNum(n) + (n === 1 ? ' image' : ' images') + ' indexed.' : 'The index is up to date.');
  await refreshStats();
  runSearch(); // the library or the current search, with the new images
}

// Starts a build (or, given an answer of POST /api/failures/retry, follows it).
export async function startBuild(started) {
  if (state.build && state.build.running) return;
  try {
    const j = started && started.state ? started : await api('/api/build', { method: 'POST' });
    state.build = Object.assign(normBuild(j), { running: true });
  } catch (e) {
    if (e.status !== 409) { toast('Could not start the build. ' + e.message, 'error'); return; }
    state.build = normBuild({ state: 'running' });
  }
  renderBuild();
  updateTrayTitle();
  render();
  pollBuild();
}

export function initBuild() {
  $('#build-btn').addEventListener('click', () => startBuild());
}
