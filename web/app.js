// LISA web UI: native ES modules, no build step (web/js/*.js). Talks only to
// the same-origin JSON API (docs/api.md); nothing is loaded from anywhere else.
import { $ } from './js/dom.js';
import { onReachable, onUnauthorized } from './js/api.js';
import { state } from './js/state.js';
import { render } from './js/library.js';
import { runSearch, initSearch, setWeightLabel } from './js/search.js';
import { initLightbox } from './js/lightbox.js';
import { initUpload } from './js/upload.js';
import { initBuild, pollBuild } from './js/build.js';
import { refreshStats, renderStats, initStats, toggleStats } from './js/stats.js';
import { initViews, route } from './js/views.js';
import { initSettings } from './js/settings.js';

// ------------------------------------------------------------ theme
function initTheme() {
  const media = window.matchMedia('(prefers-color-scheme: dark)');
  const cur = () => document.documentElement.dataset.theme; // set in index.html before paint
  const btn = $('#theme-btn');
  const sync = () => {
    btn.setAttribute('aria-label', cur() === 'dark' ? 'Switch to light theme' : 'Switch to dark theme');
    btn.title = btn.getAttribute('aria-label');
  };
  btn.addEventListener('click', () => {
    const next = cur() === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem('lisa-theme', next); } catch (e) { /* private mode */ }
    sync();
  });
  media.addEventListener('change', sync);
  sync();
}

// "Copy" buttons next to commands.
function initCopy() {
  document.addEventListener('click', (e) => {
    const b = e.target.closest('[data-copy]');
    if (!b) return;
    const node = document.getElementById(b.dataset.copy);
    const done = () => { b.textContent = 'Copied'; setTimeout(() => (b.textContent = 'Copy'), 1400); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(node.textContent).then(done, () => {});
    else {
      const r = document.createRange();
      r.selectNodeContents(node);
      getSelection().removeAllRanges();
      getSelection().addRange(r);
      try { document.execCommand('copy'); done(); } catch (err) { /* ignore */ }
    }
  });
}

function initKeys(lightboxKey) {
  const q = $('#q');
  document.addEventListener('keydown', (e) => {
    if (lightboxKey(e)) return;
    const t = e.target;
    const typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable);
    if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      if (state.page !== 'photos') { history.pushState(null, '', location.pathname + location.search); route(); }
      q.focus();
      q.select();
    } else if (e.key === 'Escape' && t === q && q.value) {
      q.value = '';
      state.query = '';
      runSearch();
    } else if (e.key === 'Escape' && !$('#stats').hidden && window.innerWidth <= 1100) {
      toggleStats(false);
    }
  });
}

// The banner while the server does not answer; stale stats are marked.
function initReachable() {
  onReachable((up) => {
    state.offline = !up;
    $('#offline-banner').hidden = up;
    renderStats();
    if (up) { refreshStats(); runSearch(); pollBuild(); } else render();
  });
  onUnauthorized(() => { if (!state.needToken) { state.needToken = true; setTimeout(render, 0); } });
}

async function init() {
  initTheme();
  initCopy();
  initSearch();
  initUpload();
  initBuild();
  initStats();
  initViews();
  initSettings();
  initKeys(initLightbox());
  initReachable();
  const p = new URLSearchParams(location.search);
  state.query = p.get('q') || '';
  state.similar = p.get('similar') ? { key: p.get('similar'), name: p.get('similar') } : null;
  if (state.similar) state.query = ''; // similar mode has an empty query box
  const w = parseFloat(p.get('w'));
  if (isFinite(w) && w >= 0 && w <= 1) { state.weight = w; state.weightSet = true; }
  $('#q').value = state.query;
  $('#weight').value = String(state.weight);
  setWeightLabel();
  // The panel sits beside the grid on wide screens (open unless closed
  // before); on narrow ones it is an overlay, opened on demand only.
  const wide = window.matchMedia('(min-width: 1101px)');
  let statsOn = wide.matches;
  try { if (wide.matches && localStorage.getItem('lisa-stats') === '0') statsOn = false; } catch (e) { /* ignore */ }
  wide.addEventListener('change', () => { if (!wide.matches && !$('#stats').hidden) toggleStats(false); });
  $('#stats').hidden = !statsOn;
  document.body.classList.toggle('stats-open', statsOn);
  $('#stats-btn').setAttribute('aria-expanded', String(statsOn));
  route();
  await Promise.all([refreshStats(), pollBuild()]);
  runSearch(); // opens on the library (newest first) without a query
  // Stats every 5 s while the panel is open; while the server is down, a
  // probe every 5 s finds it back.
  setInterval(() => { if ((!$('#stats').hidden || state.offline) && !document.hidden) refreshStats(); }, 5000);
  document.documentElement.classList.add('ready');
}

init();

// Exposed for the browser tests and for debugging in the console.
window.lisa = { state, runSearch, refreshStats };
