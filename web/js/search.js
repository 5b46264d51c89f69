// Search: the query box, the weight slider, sort, filter chips, paging of
// /api/search, /api/library and /api/similar.
import { $, el, toast, debounce } from './dom.js';
import { api, enc, normSearch, TOKEN } from './api.js';
import { queryParts, queryTooLong } from './format.js';
import { state, PAGE, curSort, queryLimit } from './state.js';
import { render } from './library.js';
import { refreshStats } from './stats.js';

let inflight = null;
const q = () => $('#q');

export function syncUrl() {
  const p = new URLSearchParams();
  if (TOKEN) p.set('token', TOKEN);
  if (state.similar) p.set('similar', state.similar.key);
  else if (state.query) p.set('q', state.query);
  if (state.weightSet) p.set('w', String(state.weight));
  const s = p.toString();
  history.replaceState(null, '', (s ? '?' + s : location.pathname) + location.hash);
}

// The URL of one page of the current view: the library, a search or similar images.
function pageUrl(offset) {
  const query = state.query.trim();
  if (state.similar) return '/api/similar/' + enc(state.similar.key) + '?top_k=' + PAGE;
  const params = { offset: String(offset), limit: String(PAGE), sort: curSort() };
  if (!query) return '/api/library?' + new URLSearchParams(params);
  params.query = query;
  // Until the user moves the slider the server's default weight applies.
  if (state.weightSet) params.clip_weight = String(state.weight);
  return '/api/search?' + new URLSearchParams(params);
}

// Stops a query over the server's limit in the box: nothing is sent.
function checkLength() {
  const msg = state.similar ? null : queryTooLong(state.query, queryLimit());
  state.tooLong = msg;
  const box = $('#q-msg');
  box.textContent = msg || '';
  box.hidden = !msg;
  q().setAttribute('aria-invalid', msg ? 'true' : 'false');
  return !msg;
}

export async function runSearch() {
  if (!checkLength()) { render(); return; }
  syncUrl();
  const query = state.query.trim();
  state.view = state.similar ? 'similar' : query ? 'search' : 'library';
  syncSort();
  renderChips();
  const seq = ++state.seq;
  if (inflight) inflight.abort();
  inflight = new AbortController();
  state.searching = true;
  state.loadingMore = false;
  const grid = $('#grid');
  grid.setAttribute('aria-busy', 'true');
  const t0 = performance.now();
  try {
    const j = normSearch(await api(pageUrl(0), { signal: inflight.signal }));
    if (seq !== state.seq) return;
    state.results = j.results;
    state.total = j.total != null ? j.total : j.results.length;
    state.listing = j.listing;
    state.emptyMsg = j.empty;
    state.keywordOnly = j.keywordOnly;
    state.searchMessage = j.message;
    state.missingModel = j.missingModel;
    if (j.similarTo && state.similar) state.similar.name = j.similarTo.original_name || j.similarTo.name || state.similar.name;
    if (!state.weightSet && !state.similar && j.weight != null) {
      state.weight = j.weight;
      $('#weight').value = String(state.weight);
      setWeightLabel();
    }
    state.latency = j.latency != null ? j.latency : performance.now() - t0;
    if (state.view === 'search') {
      state.lat.push(state.latency);
      if (state.lat.length > 60) state.lat.shift();
    }
    state.error = null;
    state.badQuery = null;
  } catch (e) {
    if (e.name === 'AbortError') return;
    if (seq !== state.seq) return;
    state.results = [];
    state.total = 0;
    state.error = e.message;
    state.badQuery = e.status === 400 && e.code === 'bad_query' ? e.message : null;
  } finally {
    if (seq === state.seq) { state.searching = false; grid.removeAttribute('aria-busy'); }
  }
  render();
  if (!$('#stats').hidden && state.view === 'search') refreshStats();
}

// Infinite scroll: the next page when the sentinel below the grid comes near.
async function loadMore() {
  if (state.loadingMore || state.searching || state.similar || state.error || state.page !== 'photos') return;
  if (state.results.length >= state.total) return;
  const seq = state.seq;
  state.loadingMore = true;
  $('#more').dataset.state = 'loading';
  try {
    const j = normSearch(await api(pageUrl(state.results.length)));
    if (seq !== state.seq) return;
    const have = new Set(state.results.map((r) => r.key));
    state.results = state.results.concat(j.results.filter((r) => !have.has(r.key)));
    if (j.total != null) state.total = j.total;
    if (!j.results.length) state.total = state.results.length; // the set shrank meanwhile
  } catch (e) {
    if (seq === state.seq) toast('Could not load more photos. ' + e.message, 'error');
  } finally {
    if (seq === state.seq) state.loadingMore = false;
  }
  if (seq !== state.seq) return;
  render();
  requestAnimationFrame(checkMore); // a tall screen may need another page at once
}
function checkMore() {
  const r = $('#more').getBoundingClientRect();
  if (r.top < window.innerHeight + 600 && state.results.length < state.total) loadMore();
}

export function syncSort() {
  const sortSel = $('#sort');
  const rel = sortSel.querySelector('option[value="relevance"]');
  rel.disabled = rel.hidden = state.view !== 'search';
  sortSel.value = curSort();
  sortSel.disabled = state.view === 'similar';
}

// Sets the query (box and state) and searches.
export function setQuery(text) {
  state.query = text;
  q().value = text;
  state.similar = null;
  runSearch();
}

export function removePart(p) {
  const t = state.query;
  setQuery((t.slice(0, p.start) + t.slice(p.end)).replace(/\s+/g, ' ').trim());
}

function renderChips() {
  const box = $('#filter-chips');
  const parts = state.similar ? [] : queryParts(state.query);
  box.replaceChildren(...parts.map((p) => el('span', { class: 'fchip' + (p.neg ? ' neg' : ''), 'data-key': p.key },
    el('span', { class: 'fchip-k', text: (p.neg && p.key !== 'not' ? 'not ' : '') + (p.key === 'not' ? 'without' : p.key) }),
    el('span', { class: 'fchip-v', text: p.value }),
    el('button', { class: 'fchip-x', type: 'button', 'aria-label': 'Remove filter ' + p.raw, title: 'Remove ' + p.raw, onclick: () => removePart(p) }, '×'))));
  box.hidden = !parts.length;
}

export function setWeightLabel() {
  const c = Math.round(state.weight * 100);
  const out = $('#weight-out'), w = $('#weight');
  out.textContent = c === 0 ? 'Keywords only' : c === 100 ? 'CLIP only' : c + '% CLIP';
  out.title = c + '% CLIP, ' + (100 - c) + '% keywords';
  w.setAttribute('aria-valuetext', c + '% CLIP, ' + (100 - c) + '% keywords');
}
export function setWeight(v) {
  state.weight = v;
  state.weightSet = true;
  $('#weight').value = String(v);
  setWeightLabel();
  runSearch();
}

// Similar mode: the images like one, with the query box cleared.
export function showSimilar(r) {
  state.similar = { key: r.key, name: r.original };
  state.query = '';
  q().value = '';
  runSearch();
}

export function initSearch() {
  const searchSoon = debounce(runSearch, 220);
  const rerankSoon = debounce(runSearch, 150);
  q().addEventListener('input', () => {
    state.query = q().value;
    state.similar = null;
    if (!checkLength()) { render(); return; }
    searchSoon();
  });
  $('#search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.query = q().value;
    state.similar = null;
    searchSoon.flush();
  });
  $('#sort').addEventListener('change', () => {
    const v = $('#sort').value;
    if (state.view === 'library') state.sortLib = v; else state.sortSearch = v;
    // A new order starts at its top: left scrolled down, the first page would
    // show its end and the infinite scroll would fetch the second at once.
    window.scrollTo(0, 0);
    runSearch();
  });
  const w = $('#weight');
  w.addEventListener('input', () => {
    state.weight = Math.round(parseFloat(w.value) * 100) / 100;
    state.weightSet = true;
    setWeightLabel();
    if (!state.similar) rerankSoon();
  });
  new IntersectionObserver((es) => { if (es.some((e) => e.isIntersecting)) loadMore(); }, { rootMargin: '600px 0px' }).observe($('#more'));
}
