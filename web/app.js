// LISA web UI: vanilla JS, no build step. Talks only to the same-origin JSON
// API (docs/api.md); nothing is loaded from anywhere else.
'use strict';

(function () {
  const $ = (sel, el) => (el || document).querySelector(sel);
  const el = (tag, attrs, ...kids) => {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') n.className = v;
      else if (k === 'text') n.textContent = v;
      else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? '' : v);
    }
    for (const c of kids.flat()) if (c != null) n.append(c.nodeType ? c : document.createTextNode(String(c)));
    return n;
  };
  const svgIcon = (paths) => {
    const s = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    s.innerHTML = paths;
    return s;
  };
  const ICON = {
    image: '<rect x="3" y="3" width="18" height="18" rx="3"/><circle cx="9" cy="9" r="2"/><path d="M21 15l-5-5L5 21"/>',
    upload: '<path d="M12 16V4M7 9l5-5 5 5M4 16v3a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-3"/>',
    bolt: '<path d="M13 2L4 14h7l-1 8 9-12h-7z"/>',
    search: '<circle cx="11" cy="11" r="7"/><path d="M20 20l-4-4"/>',
    chip: '<rect x="5" y="5" width="14" height="14" rx="2"/><path d="M9 9h6v6H9zM9 2v3M15 2v3M9 19v3M15 19v3M2 9h3M2 15h3M19 9h3M19 15h3"/>',
    alert: '<circle cx="12" cy="12" r="9"/><path d="M12 8v5M12 16h.01"/>',
    similar: '<rect x="3" y="3" width="7" height="7" rx="1.5"/><rect x="14" y="3" width="7" height="7" rx="1.5"/><rect x="3" y="14" width="7" height="7" rx="1.5"/><rect x="14" y="14" width="7" height="7" rx="1.5"/>',
  };

  // ------------------------------------------------------------ formatting
  const fmtBytes = (b) => {
    if (b == null || !isFinite(b)) return '—';
    const u = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i === 0 ? b : b.toFixed(b < 10 ? 1 : 0)) + ' ' + u[i];
  };
  const fmtNum = (n) => (n == null || !isFinite(n) ? '—' : Number(n).toLocaleString('en-US'));
  const fmtMs = (ms) => (ms == null || !isFinite(ms) ? '—' : ms < 10 ? ms.toFixed(1) + ' ms' : Math.round(ms) + ' ms');
  const fmtScore = (s) => (s == null || !isFinite(s) ? '—' : s.toFixed(2));
  const fmtDur = (s) => {
    if (s == null || !isFinite(s) || s < 0) return '—';
    s = Math.round(s);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
  };
  const fmtDate = (d) => {
    if (!d) return null;
    let t = typeof d === 'number' ? new Date(d * (d < 1e12 ? 1000 : 1)) : new Date(String(d).replace(/^(\d{4}):(\d{2}):(\d{2})/, '$1-$2-$3'));
    if (isNaN(t)) return String(d);
    return t.toLocaleString('en-GB', { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  };
  const pick = (o, ...keys) => {
    for (const k of keys) {
      const v = k.split('.').reduce((a, p) => (a == null ? a : a[p]), o);
      if (v !== undefined && v !== null) return v;
    }
    return undefined;
  };
  const enc = (name) => encodeURIComponent(name);
  // Token (servers bound beyond loopback may require one): taken from ?token=
  // on the page URL, sent as a bearer header, and appended to <img> URLs.
  const TOKEN = new URLSearchParams(location.search).get('token');
  const withToken = (u) => (TOKEN && u && u.startsWith('/api/') ? u + (u.includes('?') ? '&' : '?') + 'token=' + enc(TOKEN) : u);

  // ------------------------------------------------------------ API adapters
  // The only place that knows the JSON field names of docs/api.md.
  const numOrNull = (v) => (v == null || v === '' || !isFinite(+v) ? null : +v);
  function normResult(r) {
    const id = pick(r, 'id');
    const name = pick(r, 'name') || String(pick(r, 'path') || '').split('/').pop();
    let kws = pick(r, 'keywords') || [];
    if (typeof kws === 'string') kws = kws.split(/[\s,]+/).filter(Boolean);
    if (!Array.isArray(kws)) kws = Object.values(kws).flat().filter((x) => typeof x === 'string');
    const matched = pick(r, 'matched', 'match.keywords', 'matched_keywords') || [];
    const cols = pick(r, 'match_sources', 'matched_in', 'match.sources', 'match_cols') || [];
    return {
      id,
      key: id != null ? String(id) : name,
      name,
      // A part the server did not compute is null: absent, not 0 (docs/ranking.md).
      score: numOrNull(pick(r, 'score')),
      clip: numOrNull(pick(r, 'clip_score')),
      kw: numOrNull(pick(r, 'keyword_score')),
      hasClip: pick(r, 'clip_score') != null,
      hasKw: pick(r, 'keyword_score') != null,
      clipMatch: pick(r, 'clip_match') === true,
      cosine: pick(r, 'cosine'),
      bm25: pick(r, 'bm25'),
      thumb: withToken(pick(r, 'thumb_url') || '/api/thumb/' + enc(id != null ? id : name)),
      image: withToken(pick(r, 'image_url') || '/api/image/' + enc(id != null ? id : name)),
      caption: pick(r, 'caption') || '',
      keywords: kws.map(String),
      matched: (Array.isArray(matched) ? matched : []).map((x) => String(x).toLowerCase()),
      sources: (Array.isArray(cols) ? cols : String(cols).split(/[\s,]+/)).map((x) => String(x).toLowerCase()).filter(Boolean),
      ocr: pick(r, 'ocr_text', 'ocr') || '',
      width: pick(r, 'width'),
      height: pick(r, 'height'),
      size: pick(r, 'size', 'bytes', 'file_size'),
      date: pick(r, 'date', 'taken', 'datetime'),
      camera: pick(r, 'camera') || [pick(r, 'make', 'camera_make'), pick(r, 'model', 'camera_model')].filter(Boolean).join(' '),
      format: pick(r, 'format', 'mime', 'type'),
      uploaded: pick(r, 'uploaded') === true,
    };
  }
  function normSearch(j) {
    return {
      results: (pick(j, 'results', 'hits') || []).map(normResult),
      latency: +pick(j, 'latency_ms', 'took_ms'),
      keywordOnly: !!pick(j, 'keyword_only'),
      message: pick(j, 'message'),
      missingModel: pick(j, 'missing_model'),
      weight: pick(j, 'clip_weight'),
      similarTo: pick(j, 'similar_to'),
      total: pick(j, 'total', 'count'),
      offset: +pick(j, 'offset') || 0,
      listing: !!pick(j, 'listing'),
      empty: pick(j, 'empty'),
      sort: pick(j, 'sort'),
      terms: pick(j, 'terms', 'query_terms', 'keywords') || [],
    };
  }
  function normModel(m, key) {
    if (typeof m !== 'object' || m == null) m = { installed: !!m };
    return {
      role: pick(m, 'role', 'kind', 'type') || key || 'model',
      name: pick(m, 'name', 'id') || key || 'model',
      installed: !!pick(m, 'installed', 'present', 'ok'),
      command: pick(m, 'install_command', 'command', 'install'),
      path: pick(m, 'path', 'dir'),
    };
  }
  function normStats(j) {
    let models = pick(j, 'models') || [];
    models = Array.isArray(models) ? models.map((m) => normModel(m)) : Object.entries(models).map(([k, m]) => normModel(m, k));
    const lat = pick(j, 'latency', 'search_latency', 'latency_ms') || {};
    return {
      images: pick(j, 'images'),        // rows in the index
      indexed: pick(j, 'indexed'),      // of those, with an embedding for the loaded model
      embeddings: pick(j, 'embeddings'),
      uploads: pick(j, 'uploads'),      // files in DATA/images (indexed or not)
      build: pick(j, 'build'),
      dbBytes: pick(j, 'db_bytes'),
      thumbBytes: pick(j, 'thumb_bytes'),
      models,
      lastBuild: pick(j, 'last_build'),
      p50: pick(lat, 'p50', 'p50_ms'),
      p95: pick(lat, 'p95', 'p95_ms'),
      p99: pick(lat, 'p99', 'p99_ms'),
      count: pick(lat, 'count', 'n', 'samples'),
      recent: pick(lat, 'recent', 'recent_ms', 'last') || pick(j, 'recent_latencies') || null,
      rss: pick(j, 'rss_bytes', 'rss'),
      uptime: pick(j, 'uptime_s', 'uptime'),
      version: pick(j, 'version'),
      diskFull: pick(j, 'disk_full') === true,
    };
  }
  function normBuild(j) {
    const running = pick(j, 'running', 'active');
    const state = pick(j, 'state', 'status') || (running ? 'running' : 'idle');
    return {
      running: running != null ? !!running : state === 'running',
      state,
      done: +pick(j, 'done', 'processed') || 0,
      total: +pick(j, 'total') || 0,
      rate: pick(j, 'rate', 'per_second'),
      eta: pick(j, 'eta_s', 'eta'),
      errors: pick(j, 'errors', 'failed') || 0,
      added: pick(j, 'added', 'indexed'),
      phase: pick(j, 'phase'),
      message: pick(j, 'message'),
      last: pick(j, 'last'),
    };
  }
  const errText = (j, status) => pick(j, 'error.message', 'message', 'error', 'detail') || (status ? 'HTTP ' + status : 'network error');

  async function api(path, opts) {
    const headers = { Accept: 'application/json' };
    if (TOKEN) headers.Authorization = 'Bearer ' + TOKEN;
    const res = await fetch(path, Object.assign({ headers }, opts));
    let j = null;
    try { j = await res.json(); } catch (e) { /* not JSON */ }
    if (res.status === 401 && !state.needToken) { state.needToken = true; setTimeout(render, 0); }
    if (!res.ok) {
      const err = new Error(typeof errText(j, res.status) === 'string' ? errText(j, res.status) : 'HTTP ' + res.status);
      err.status = res.status;
      err.body = j;
      throw err;
    }
    return j || {};
  }

  // ------------------------------------------------------------ state
  const state = {
    query: '',
    weight: 0.7,        // the server's default until the first answer says otherwise
    weightSet: false,   // true once the user moved the slider (or ?w= was given)
    similar: null,      // name when showing "similar to"
    results: [],
    total: 0,           // size of the whole ordered set (all pages)
    view: 'library',    // 'library' (no query), 'search', 'similar'
    sortLib: '-date',   // the library's order (newest first: a timeline)
    sortSearch: 'relevance',
    loadingMore: false,
    emptyMsg: null,     // the server's explanation of an empty answer
    terms: [],
    stats: null,
    build: null,
    lat: [],            // client-side recent latencies (ms)
    seq: 0,
    searching: false,
    lbIndex: -1,
  };

  const q = $('#q'), weight = $('#weight'), weightOut = $('#weight-out'), grid = $('#grid'), empty = $('#empty');
  const summary = $('#summary');

  // ------------------------------------------------------------ theme
  const media = window.matchMedia('(prefers-color-scheme: dark)');
  const curTheme = () => document.documentElement.dataset.theme; // set in index.html before paint
  function syncThemeBtn() {
    const t = curTheme();
    $('#theme-btn').setAttribute('aria-label', t === 'dark' ? 'Switch to light theme' : 'Switch to dark theme');
    $('#theme-btn').title = $('#theme-btn').getAttribute('aria-label');
  }
  $('#theme-btn').addEventListener('click', () => {
    const next = curTheme() === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem('lisa-theme', next); } catch (e) { /* private mode */ }
    syncThemeBtn();
  });
  media.addEventListener('change', syncThemeBtn);
  syncThemeBtn();

  // ------------------------------------------------------------ toasts
  function toast(msg, kind) {
    const t = el('div', { class: 'toast' + (kind ? ' ' + kind : ''), text: msg });
    $('#toasts').append(t);
    setTimeout(() => t.remove(), 4200);
  }
  document.addEventListener('click', (e) => {
    const b = e.target.closest('[data-copy]');
    if (!b) return;
    const text = document.getElementById(b.dataset.copy).textContent;
    const done = () => { b.textContent = 'Copied'; setTimeout(() => (b.textContent = 'Copy'), 1400); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, () => {});
    else {
      const r = document.createRange();
      r.selectNodeContents(document.getElementById(b.dataset.copy));
      getSelection().removeAllRanges();
      getSelection().addRange(r);
      try { document.execCommand('copy'); done(); } catch (err) { /* ignore */ }
    }
  });

  // ------------------------------------------------------------ search
  const debounce = (fn, ms) => {
    let t = 0;
    const d = (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
    d.flush = (...a) => { clearTimeout(t); fn(...a); };
    return d;
  };
  let inflight = null;

  function syncUrl() {
    const p = new URLSearchParams();
    if (TOKEN) p.set('token', TOKEN);
    if (state.similar) p.set('similar', state.similar.key);
    else if (state.query) p.set('q', state.query);
    if (state.weightSet) p.set('w', String(state.weight));
    const s = p.toString();
    history.replaceState(null, '', s ? '?' + s : location.pathname);
  }

  const PAGE = 60;
  const curSort = () => (state.view === 'library' ? state.sortLib : state.sortSearch);
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

  async function runSearch() {
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
    grid.setAttribute('aria-busy', 'true');
    const t0 = performance.now();
    try {
      const j = normSearch(await api(pageUrl(0), { signal: inflight.signal }));
      if (seq !== state.seq) return;
      state.results = j.results;
      state.total = j.total != null && isFinite(j.total) ? +j.total : j.results.length;
      state.listing = j.listing;
      state.emptyMsg = j.empty;
      state.terms = j.terms;
      state.keywordOnly = j.keywordOnly;
      state.searchMessage = j.message;
      state.missingModel = j.missingModel;
      if (j.similarTo && state.similar) state.similar.name = pick(j.similarTo, 'name') || state.similar.name;
      if (!state.weightSet && !state.similar && j.weight != null && isFinite(j.weight)) {
        state.weight = +j.weight;
        weight.value = String(state.weight);
        setWeightLabel();
      }
      state.latency = isFinite(j.latency) ? j.latency : performance.now() - t0;
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
      state.badQuery = e.status === 400 && pick(e.body || {}, 'error.code') === 'bad_query' ? e.message : null;
    } finally {
      if (seq === state.seq) { state.searching = false; grid.removeAttribute('aria-busy'); }
    }
    render();
    if (!$('#stats').hidden && state.view === 'search') refreshStats();
  }

  // Infinite scroll: the next page when the sentinel below the grid comes near.
  async function loadMore() {
    if (state.loadingMore || state.searching || state.similar || state.error) return;
    if (state.results.length >= state.total) return;
    const seq = state.seq;
    state.loadingMore = true;
    $('#more').dataset.state = 'loading';
    try {
      const j = normSearch(await api(pageUrl(state.results.length)));
      if (seq !== state.seq) return;
      const have = new Set(state.results.map((r) => r.key));
      state.results = state.results.concat(j.results.filter((r) => !have.has(r.key)));
      if (j.total != null && isFinite(j.total)) state.total = +j.total;
      if (!j.results.length) state.total = state.results.length; // the set shrank meanwhile
    } catch (e) {
      if (seq === state.seq) toast('Could not load more: ' + e.message, 'error');
    } finally {
      if (seq === state.seq) state.loadingMore = false;
    }
    if (seq !== state.seq) return;
    render();
    requestAnimationFrame(checkMore); // a tall screen may need another page at once
  }
  const moreEl = $('#more');
  function checkMore() {
    const r = moreEl.getBoundingClientRect();
    if (r.top < window.innerHeight + 600 && state.results.length < state.total) loadMore();
  }
  new IntersectionObserver((es) => { if (es.some((e) => e.isIntersecting)) loadMore(); }, { rootMargin: '600px 0px' }).observe(moreEl);

  // ------------------------------------------------------------ sort and filter chips
  const sortSel = $('#sort');
  function syncSort() {
    const rel = sortSel.querySelector('option[value="relevance"]');
    rel.disabled = rel.hidden = state.view !== 'search';
    sortSel.value = curSort();
    sortSel.disabled = state.view === 'similar';
  }
  sortSel.addEventListener('change', () => {
    if (state.view === 'library') state.sortLib = sortSel.value; else state.sortSearch = sortSel.value;
    runSearch();
  });

  // The query's key:value parts as the parser reads them (docs/search.md), for chips.
  const FILTER_KEYS = ['after', 'before', 'year', 'month', 'on', 'camera', 'lens', 'type', 'folder', 'name', 'text', 'near', 'orientation', 'size', 'like'];
  function queryParts(text) {
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
  function removePart(p) {
    const t = state.query;
    state.query = (t.slice(0, p.start) + t.slice(p.end)).replace(/\s+/g, ' ').trim();
    q.value = state.query;
    state.similar = null;
    runSearch();
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

  const searchSoon = debounce(runSearch, 220);
  const rerankSoon = debounce(runSearch, 150);

  q.addEventListener('input', () => {
    state.query = q.value;
    state.similar = null;
    searchSoon();
  });
  $('#search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.query = q.value;
    state.similar = null;
    searchSoon.flush();
  });

  function setWeightLabel() {
    const c = Math.round(state.weight * 100);
    weightOut.textContent = c === 0 ? 'Keywords only' : c === 100 ? 'CLIP only' : c + '% CLIP';
    weightOut.title = c + '% CLIP, ' + (100 - c) + '% keywords';
    weight.setAttribute('aria-valuetext', c + '% CLIP, ' + (100 - c) + '% keywords');
  }
  weight.addEventListener('input', () => {
    state.weight = Math.round(parseFloat(weight.value) * 100) / 100;
    state.weightSet = true;
    setWeightLabel();
    if (!state.similar) rerankSoon();
  });

  // ------------------------------------------------------------ keyword matching (for highlights)
  const fold = (s) => String(s).toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  const stem = (w) => w.replace(/(ing|edly|ed|ly|es|s)$/, '');
  function queryTokens() {
    const raw = fold(state.query).split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 1);
    const terms = (state.terms || []).map(fold);
    return Array.from(new Set(raw.concat(terms)));
  }
  function kwMatches(word, toks, r) {
    const w = fold(word);
    if (r.matched.includes(w)) return true;
    const sw = stem(w);
    return toks.some((t) => t === w || stem(t) === sw || (t.length >= 3 && w.startsWith(t)));
  }

  // ------------------------------------------------------------ rendering
  const cardByName = new Map();

  function bar(kind, label, v) {
    const pct = Math.max(0, Math.min(1, v || 0));
    return el('div', { class: 'bar bar-' + kind, title: label + ' score ' + fmtScore(v) },
      el('span', { class: 'bar-k', text: kind === 'clip' ? 'CLIP' : 'KW' }),
      el('span', { class: 'bar-track' }, el('span', { class: 'bar-fill', style: 'transform:scaleX(' + pct + ')' })),
      el('span', { class: 'bar-v', text: fmtScore(v) }));
  }

  function cardMeta(r) {
    const parts = [];
    if (r.width && r.height) parts.push(r.width + '×' + r.height);
    if (r.size != null) parts.push(fmtBytes(r.size));
    const d = fmtDate(r.date);
    if (d) parts.push(d.split(',')[0]);
    return parts.join(' · ');
  }

  function buildCard(r) {
    const li = el('li', { class: 'card' });
    const img = el('img', { class: 'card-thumb', loading: 'lazy', decoding: 'async', alt: '' });
    img.addEventListener('error', () => { img.removeAttribute('src'); img.style.visibility = 'hidden'; }, { once: true });
    const open = el('button', { class: 'card-open', type: 'button' }, img,
      el('span', { class: 'card-rank' }), el('span', { class: 'card-src' }));
    open.addEventListener('click', () => openLightbox(state.results.findIndex((x) => x.key === li.dataset.key)));
    li.append(open, el('div', { class: 'card-body' }));
    return li;
  }

  function fillCard(li, r, i) {
    li.dataset.key = r.key;
    li.dataset.name = r.name;
    li.dataset.score = r.score == null ? '' : r.score;
    li.dataset.clip = r.clip == null ? '' : r.clip;
    li.dataset.kw = r.kw == null ? '' : r.kw;
    li.dataset.id = r.id;
    li.dataset.rank = i + 1;
    const open = $('.card-open', li);
    const img = $('img', open);
    if (img.dataset.src !== r.thumb) { img.dataset.src = r.thumb; img.src = r.thumb; }
    const altText = r.caption ? r.caption : 'Image ' + r.name;
    img.alt = altText;
    open.setAttribute('aria-label', 'Open ' + r.name + (r.score == null ? '' : ', rank ' + (i + 1) + ', score ' + fmtScore(r.score)));
    $('.card-rank', open).textContent = r.score == null ? '' : '#' + (i + 1);
    $('.card-rank', open).hidden = r.score == null;
    const src = $('.card-src', open);
    src.replaceChildren();
    if (r.sources.includes('ocr')) src.append(el('span', { class: 'tag tag-ocr', title: 'Matched text found in the image (OCR)', text: 'OCR' }));
    const body = $('.card-body', li);
    // A bar only for a part that was computed: no CLIP bar without a model (or
    // a vector), no keyword bar at weight 1 or for similar images; a listing
    // (the library, filters only) has no score at all.
    const bars = [];
    if (r.hasClip) bars.push(bar('clip', 'CLIP', r.clip));
    if (r.hasKw && !state.similar) bars.push(bar('kw', 'Keyword', r.kw));
    const why = [];
    for (const s of r.sources) why.push(s === 'ocr' ? 'text in image' : s === 'meta' ? 'metadata' : s === 'clip' ? 'CLIP' : s);
    body.replaceChildren(...[
      el('div', { class: 'card-head' },
        el('span', { class: 'card-name', title: r.name, text: r.name }),
        r.score == null ? null : el('span', { class: 'card-score', title: 'Total score', text: fmtScore(r.score) })),
      bars.length ? el('div', { class: 'bars' }, bars) : null,
      why.length && !state.similar ? el('div', { class: 'card-why', title: 'Why it matched', text: 'Matched: ' + why.join(' · ') }) : null,
      el('div', { class: 'card-meta', text: cardMeta(r) || '\u00a0' })].filter(Boolean));
  }

  const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
  function monthOf(d) {
    const m = /^(\d{4})-(\d{2})/.exec(String(d || ''));
    return m && +m[2] >= 1 && +m[2] <= 12 ? MONTHS[+m[2] - 1] + ' ' + m[1] : '';
  }

  function renderGrid() {
    // FLIP: remember where cards were, reuse them by name, animate the moves.
    const before = new Map();
    for (const [name, li] of cardByName) if (li.isConnected) before.set(name, li.getBoundingClientRect());
    const keep = new Set();
    const frag = [];
    // A timeline: month headers whenever the order is by date.
    const byDate = state.view !== 'similar' && /date$/.test(curSort());
    let month = null;
    state.results.forEach((r, i) => {
      if (byDate) {
        const m = monthOf(r.date);
        if (m !== month) { month = m; frag.push(el('li', { class: 'month-head', role: 'presentation', text: m || 'Unknown date' })); }
      }
      let li = cardByName.get(r.key);
      if (!li) { li = buildCard(r); cardByName.set(r.key, li); }
      fillCard(li, r, i);
      keep.add(r.key);
      frag.push(li);
    });
    for (const name of Array.from(cardByName.keys())) if (!keep.has(name)) cardByName.delete(name);
    grid.replaceChildren(...frag);
    if (window.matchMedia('(prefers-reduced-motion: reduce)').matches) return;
    for (const li of frag) {
      if (!li.dataset.key) continue;
      const a = before.get(li.dataset.key);
      if (!a) continue;
      const b = li.getBoundingClientRect();
      const dx = a.left - b.left, dy = a.top - b.top;
      if (!dx && !dy) continue;
      li.style.animation = 'none';
      li.animate([{ transform: `translate(${dx}px, ${dy}px)` }, { transform: 'none' }], { duration: 320, easing: 'cubic-bezier(.2,.7,.2,1)' });
    }
  }

  // The CLIP model entry of /api/stats, and whether it is missing (stats or the
  // last search's missing_model say so).
  const clipModel = () => state.stats && state.stats.models.find((m) => /clip/i.test(m.role + ' ' + m.name));
  const clipMissing = () => { const m = clipModel(); return m ? !m.installed : !!state.missingModel; };

  function emptyState(kind) {
    const st = state.stats;
    let art = ICON.search, title = '', text = '', actions = [], extra = null;
    switch (kind) {
      case 'no-images':
        art = ICON.image;
        title = 'No images yet';
        text = 'Drop photos anywhere on this page, or pick them from your disk. They stay on this machine.';
        actions = [el('button', { class: 'btn btn-primary', type: 'button', onclick: () => $('#file-input').click() }, svgIcon(ICON.upload), 'Upload images')];
        extra = el('p', { class: 'hint', text: 'JPEG, PNG, WebP, GIF, HEIC and TIFF · or index a folder in place with  lisa index ~/Pictures' });
        break;
      case 'no-index':
        art = ICON.bolt;
        title = 'No index yet';
        text = fmtNum(st.uploads) + (st.uploads === 1 ? ' image is' : ' images are') + ' waiting to be indexed. Build the index to make them searchable.';
        actions = [el('button', { class: 'btn btn-primary', type: 'button', onclick: startBuild }, svgIcon(ICON.bolt), 'Build Index')];
        break;
      case 'building': {
        art = ICON.bolt;
        title = 'Building the index…';
        text = 'Reading each image, making thumbnails, embeddings and keywords. You can search as soon as it finishes.';
        const b = state.build || {};
        const p = b.total ? Math.min(1, b.done / b.total) : 0;
        extra = el('div', { class: 'empty-progress' },
          el('span', { class: 'ep-bar', role: 'progressbar', 'aria-label': 'Index build', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(p * 100)) },
            el('span', { style: '--p:' + p })),
          el('span', { class: 'ep-text', text: b.total ? fmtNum(b.done) + ' of ' + fmtNum(b.total) + ' images' : 'Scanning…' }));
        break;
      }
      case 'no-model':
        art = ICON.chip;
        title = 'No CLIP model installed';
        text = 'Keyword search works now (names, metadata, captions, OCR). For search by meaning, install the CLIP model on a connected machine:';
        break;
      case 'no-results': {
        art = ICON.search;
        title = 'No matches';
        text = state.emptyMsg || ('Nothing matches “' + state.query.trim() + '”.');
        // Suggestions: drop a filter, drop the last word, or browse everything.
        const tips = queryParts(state.query).map((p) => el('button', { type: 'button', class: 'tip-drop', onclick: () => removePart(p), text: 'Without ' + p.raw }));
        const words = state.query.trim().split(/\s+/);
        if (words.length > 1 && !queryParts(words[words.length - 1]).length)
          tips.push(el('button', { type: 'button', onclick: () => { state.query = words.slice(0, -1).join(' '); q.value = state.query; runSearch(); }, text: 'Search “' + words.slice(0, -1).join(' ') + '”' }));
        if (!clipMissing() && state.weight < 0.5 && !state.listing)
          tips.push(el('button', { type: 'button', onclick: () => { state.weight = 0.7; state.weightSet = true; weight.value = '0.7'; setWeightLabel(); runSearch(); }, text: 'Search by meaning too (CLIP)' }));
        if (!clipMissing() && state.weight > 0.5 && !state.listing)
          tips.push(el('button', { type: 'button', onclick: () => { state.weight = 0.5; state.weightSet = true; weight.value = '0.5'; setWeightLabel(); runSearch(); }, text: 'Balance CLIP and keywords' }));
        tips.push(el('button', { type: 'button', class: 'tip-all', onclick: () => { state.query = ''; q.value = ''; runSearch(); }, text: 'Browse all photos' }));
        extra = el('div', { class: 'suggest' }, tips);
        break;
      }
      case 'bad-query':
        art = ICON.alert;
        title = 'That query has a part LISA cannot read';
        text = state.badQuery;
        extra = el('p', { class: 'hint', text: 'Filters: after: before: year: month: on: camera: lens: type: folder: name: text: near: orientation: size: like: · quote a word with a colon: "re:union"' });
        break;
      case 'auth':
        art = ICON.alert;
        title = TOKEN ? 'The access token was refused' : 'This server needs an access token';
        text = 'It was started with LISA_TOKEN (or --token). Open this page with the token in its address, like this:';
        extra = el('span', { class: 'cmd' }, el('code', { text: location.origin + location.pathname + '?token=…' }));
        break;
      case 'error':
        art = ICON.alert;
        title = 'Search failed';
        text = state.error || 'The server did not answer.';
        actions = [el('button', { class: 'btn btn-ghost', type: 'button', onclick: runSearch }, 'Try again')];
        break;
      default: { // idle, with an index
        title = 'Search your library';
        text = fmtNum(st && st.images) + (st && st.images === 1 ? ' image' : ' images') + ' indexed. Describe what you are looking for, in your own words.';
        const ideas = ['dog running on grass', 'sunset at the beach', 'receipt', 'birthday cake', 'snow mountains'];
        extra = el('div', { class: 'suggest' }, ideas.map((s) => el('button', { type: 'button', onclick: () => { q.value = s; state.query = s; runSearch(); }, text: s })));
      }
    }
    const cmdBlock = (kind === 'no-model')
      ? el('span', { class: 'cmd' }, el('code', { id: 'empty-cmd', text: modelCommand() }), el('button', { class: 'copy', type: 'button', 'data-copy': 'empty-cmd', 'aria-label': 'Copy command', text: 'Copy' }))
      : null;
    empty.replaceChildren(...[
      el('div', { class: 'art' }, svgIcon(art)),
      el('h2', { text: title }),
      el('p', { text }),
      cmdBlock,
      actions.length ? el('div', { class: 'actions' }, actions) : null,
      extra].filter(Boolean));
    empty.dataset.state = kind;
    empty.classList.add('on');
  }

  function modelCommand() {
    const m = clipModel();
    return (m && m.command) || pick(state.missingModel || {}, 'install') || 'lisa models pull clip-vit-base-patch32';
  }

  function render() {
    const st = state.stats;
    const hasQuery = !!(state.query.trim() || state.similar);
    const noClip = clipMissing();
    $('#model-cmd').textContent = modelCommand();

    // Which empty state, if any: library problems first, then the query.
    let kind = null;
    const building = !!(state.build && state.build.running);
    if (state.needToken) kind = 'auth';
    else if (hasQuery && state.badQuery) kind = 'bad-query';
    else if (hasQuery && state.error) kind = 'error';
    else if (st && !st.images && building) kind = 'building';
    else if (st && !st.images && !st.uploads) kind = 'no-images';
    else if (st && !st.images) kind = 'no-index';
    else if (hasQuery && !state.results.length && !state.searching) kind = 'no-results';
    if (kind === 'error' || kind === 'bad-query' || kind === 'no-images' || kind === 'no-index' || kind === 'building') state.results = [];
    $('#results').dataset.view = state.view;
    moreEl.dataset.state = state.results.length < state.total && !kind ? 'more' : state.results.length && !kind ? 'end' : 'none';
    moreEl.textContent = moreEl.dataset.state === 'end' && state.total > PAGE ? (state.view === 'library' ? 'All ' + fmtNum(state.total) + ' photos' : 'All ' + fmtNum(state.total) + ' results') : '';
    $('#model-banner').hidden = !noClip || kind === 'no-model';
    $('#disk-banner').hidden = !(st && st.diskFull);
    // Without CLIP there is nothing to weigh: the slider is shown but off.
    // Similar images are ranked by CLIP alone: nothing to weigh either.
    weight.disabled = noClip || !!state.similar;
    $('.weight').classList.toggle('off', weight.disabled);
    $('.weight').title = noClip ? 'Needs a CLIP model: search uses keywords only' : state.similar ? 'Similar images are ranked by CLIP alone' : '';
    if (kind) emptyState(kind);
    else { empty.classList.remove('on'); empty.removeAttribute('data-state'); }
    renderGrid();
    renderSummary();
  }

  function renderSummary() {
    summary.replaceChildren();
    if (state.similar) {
      summary.append('Images similar to ', el('b', { text: state.similar.name }), ' ',
        el('button', { class: 'btn btn-ghost btn-sm', type: 'button', onclick: () => { state.similar = null; runSearch(); } }, 'Clear'));
      return;
    }
    if (state.error) return;
    if (state.view === 'library') {
      if (state.total) summary.append(el('b', { text: fmtNum(state.total) }), state.total === 1 ? ' photo' : ' photos', state.listing && state.query.trim() ? ' match the filters' : '');
      return;
    }
    const n = state.total;
    summary.append(el('b', { text: fmtNum(n) }), state.listing ? (n === 1 ? ' photo matches' : ' photos match') : n === 1 ? ' result' : ' results');
    if (isFinite(state.latency)) summary.append(' in ', el('b', { text: fmtMs(state.latency) }));
    if (state.keywordOnly) summary.append(el('span', { class: 'pill', title: state.searchMessage || '', text: 'keywords only' }));
  }

  // ------------------------------------------------------------ lightbox
  const lb = $('#lightbox');
  let lbReturn = null;
  function openLightbox(i) {
    if (i < 0 || i >= state.results.length) return;
    if (lb.hidden) lbReturn = document.activeElement;
    state.lbIndex = i;
    const r = state.results[i];
    const img = $('#lb-img');
    img.src = r.image;
    img.alt = r.caption || 'Image ' + r.name;
    $('#lb-title').textContent = r.name;
    $('#lb-pos').textContent = (state.similar ? 'Similar · ' : '') + (i + 1) + ' of ' + state.results.length;
    const sc = $('#lb-scores');
    sc.replaceChildren(
      el('div', { class: 'lb-score' }, el('span', { text: 'Score' }), el('b', { text: fmtScore(r.score) })),
      el('div', { class: 'lb-score clip' }, el('span', { text: 'CLIP' }), el('b', { text: fmtScore(r.clip) })),
      el('div', { class: 'lb-score kw' }, el('span', { text: 'Keywords' }), el('b', { text: fmtScore(r.kw) })));
    $('#lb-caption').textContent = r.caption || '';
    const toks = queryTokens();
    const kw = $('#lb-keywords');
    kw.replaceChildren();
    const ocrWords = new Set(fold(r.ocr).split(/[^\p{L}\p{N}]+/u).filter(Boolean));
    const fromOcr = r.sources.includes('ocr');
    const seen = new Set();
    for (const k of r.keywords) {
      const f = fold(k);
      if (seen.has(f)) continue;
      seen.add(f);
      const hit = !state.similar && kwMatches(k, toks, r);
      // matched_in says which sources matched, not which word: a hit is shown
      // as an OCR match when OCR matched and it is in the OCR text (or OCR
      // was the only matching source).
      const isOcr = hit && fromOcr && (ocrWords.has(f) || r.sources.every((x) => x === 'ocr'));
      kw.append(el('span', { class: 'chip' + (isOcr ? ' ocr' : hit ? ' hit' : ''), title: isOcr ? 'Matched in text found in the image (OCR)' : hit ? 'Matched your query' : null },
        k, isOcr ? el('small', { text: 'OCR' }) : null));
    }
    // OCR words that matched the query, when `keywords` does not list them.
    if (fromOcr && !state.similar) {
      for (const w of r.ocr.split(/[^\p{L}\p{N}]+/u)) {
        const f = fold(w);
        if (!f || seen.has(f) || !kwMatches(w, toks, r)) continue;
        seen.add(f);
        kw.append(el('span', { class: 'chip ocr', title: 'Matched in text found in the image (OCR)' }, f, el('small', { text: 'OCR' })));
      }
    }
    if (!kw.children.length) kw.append(el('span', { class: 'chips-empty', text: 'No keywords' }));
    const SRC = { name: 'file name', meta: 'metadata', caption: 'caption', ocr: 'text in image (OCR)' };
    const mi = $('#lb-matched');
    mi.replaceChildren();
    if (!state.similar && r.sources.length) {
      mi.append('Keywords matched in ');
      r.sources.forEach((x, n) => {
        if (n) mi.append(n === r.sources.length - 1 ? ' and ' : ', ');
        mi.append(el('b', { class: x === 'ocr' ? 'src-ocr' : null, text: SRC[x] || x }));
      });
    }
    mi.hidden = !mi.childNodes.length;
    const ocrWrap = $('#lb-ocr-wrap');
    ocrWrap.hidden = !r.ocr;
    if (r.ocr) {
      const p = $('#lb-ocr');
      p.replaceChildren();
      for (const part of r.ocr.split(/([^\p{L}\p{N}]+)/u)) {
        if (part && toks.length && !state.similar && kwMatches(part, toks, r)) p.append(el('mark', { text: part }));
        else p.append(part);
      }
    }
    const meta = $('#lb-meta');
    meta.replaceChildren();
    const rows = [
      ['Dimensions', r.width && r.height ? r.width + ' × ' + r.height + ' px' : null],
      ['File size', r.size != null ? fmtBytes(r.size) : null],
      ['Date', fmtDate(r.date)],
      ['Camera', r.camera || null],
      ['Format', r.format || null],
    ];
    for (const [k, v] of rows) if (v) meta.append(el('dt', { text: k }), el('dd', { text: v }));
    if (!meta.children.length) meta.append(el('dt', { text: 'Details' }), el('dd', { text: 'none recorded' }));
    $('#lb-open').href = r.image;
    disarmDelete();
    $('#lb-delete').hidden = !r.uploaded || r.id == null; // external folders are never deleted from here
    const sim = $('#lb-similar');
    sim.disabled = clipMissing();
    sim.title = sim.disabled ? 'Similar images need a CLIP model: ' + modelCommand() : 'Find images that look like this one';
    $('#lb-prev').disabled = i === 0;
    $('#lb-next').disabled = i === state.results.length - 1;
    if (lb.hidden) {
      lb.hidden = false;
      document.body.style.overflow = 'hidden';
      $('#lb-close').focus();
    }
    // Preload neighbours for snappy arrow keys.
    for (const j of [i - 1, i + 1]) if (state.results[j]) new Image().src = state.results[j].image;
  }
  function closeLightbox() {
    if (lb.hidden) return;
    lb.hidden = true;
    document.body.style.overflow = '';
    $('#lb-img').removeAttribute('src');
    if (lbReturn && lbReturn.isConnected) lbReturn.focus();
  }
  lb.addEventListener('click', (e) => { if (e.target.closest('[data-close]')) closeLightbox(); });
  $('#lb-prev').addEventListener('click', () => openLightbox(state.lbIndex - 1));
  $('#lb-next').addEventListener('click', () => openLightbox(state.lbIndex + 1));
  // Deleting an upload takes two clicks: the first arms the button for a few
  // seconds ("Delete file?"), the second deletes. No modal dialog to dismiss.
  let delTimer = 0;
  function disarmDelete() {
    clearTimeout(delTimer);
    const b = $('#lb-delete');
    b.classList.remove('armed');
    b.textContent = 'Delete';
    b.setAttribute('aria-label', 'Delete this uploaded file');
  }
  $('#lb-delete').addEventListener('click', async () => {
    const b = $('#lb-delete'), r = state.results[state.lbIndex];
    if (!r) return;
    if (!b.classList.contains('armed')) {
      b.classList.add('armed');
      b.textContent = 'Delete file? Click again';
      b.setAttribute('aria-label', 'Click again to delete ' + r.name);
      delTimer = setTimeout(disarmDelete, 4000);
      return;
    }
    disarmDelete();
    b.disabled = true;
    try {
      await api('/api/image/' + enc(r.id), { method: 'DELETE' });
      toast('Deleted ' + r.name);
      const i = state.results.indexOf(r);
      if (i >= 0) state.results.splice(i, 1), state.total = Math.max(0, state.total - 1);
      render();
      if (state.results.length) openLightbox(Math.min(i, state.results.length - 1));
      else closeLightbox();
      refreshStats();
    } catch (e) {
      toast('Could not delete ' + r.name + ': ' + e.message, 'error');
    } finally {
      b.disabled = false;
    }
  });
  $('#lb-similar').addEventListener('click', () => {
    const r = state.results[state.lbIndex];
    if (!r) return;
    closeLightbox();
    state.similar = { key: r.key, name: r.name };
    runSearch();
    window.scrollTo({ top: 0, behavior: 'smooth' });
  });

  document.addEventListener('keydown', (e) => {
    if (!lb.hidden) {
      if (e.key === 'Escape') { e.preventDefault(); closeLightbox(); }
      else if (e.key === 'ArrowLeft') { e.preventDefault(); openLightbox(state.lbIndex - 1); }
      else if (e.key === 'ArrowRight') { e.preventDefault(); openLightbox(state.lbIndex + 1); }
      else if (e.key === 'Tab') { // keep focus inside the dialog
        const f = Array.from(lb.querySelectorAll('button:not([disabled]), a[href]')).filter((n) => n.offsetParent);
        if (!f.length) return;
        const first = f[0], last = f[f.length - 1];
        if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
        else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
      }
      return;
    }
    const t = e.target;
    const typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable);
    if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
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

  // ------------------------------------------------------------ stats
  function toggleStats(on) {
    const s = $('#stats');
    s.hidden = !on;
    $('#stats-btn').setAttribute('aria-expanded', String(on));
    try { localStorage.setItem('lisa-stats', on ? '1' : '0'); } catch (e) { /* ignore */ }
    if (on) refreshStats();
  }
  $('#stats-btn').addEventListener('click', () => toggleStats($('#stats').hidden));
  $('#stats-close').addEventListener('click', () => toggleStats(false));

  async function refreshStats() {
    try {
      state.stats = normStats(await api('/api/stats'));
    } catch (e) {
      return false;
    }
    renderStats();
    return true;
  }
  const refreshStatsSoon = debounce(refreshStats, 400);

  function renderStats() {
    const st = state.stats;
    if (!st) return;
    const cell = (k, v, title) => el('div', { class: 'stat', title }, el('dt', { text: k }), el('dd', { text: v }));
    $('#stat-grid').replaceChildren(
      cell('Images', fmtNum(st.images), 'Images in the index'),
      cell('Indexed', fmtNum(st.indexed), 'Images with a CLIP embedding for the loaded model'),
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
    drawSpark(Array.isArray(st.recent) && st.recent.length ? st.recent.map(Number) : state.lat, st.p95);
    const ml = $('#models');
    ml.replaceChildren();
    for (const m of st.models) {
      ml.append(el('li', { class: m.installed ? 'ok' : 'missing', title: m.path || '' },
        el('span', { class: 'dot', 'aria-hidden': 'true' }),
        el('span', { class: 'm-name' }, el('b', { text: m.role + ' ' }), m.name !== m.role ? m.name : ''),
        el('span', { class: 'm-state', text: m.installed ? 'installed' : 'missing' })));
    }
    if (!st.models.length) ml.append(el('li', { class: 'missing' }, el('span', { class: 'dot' }), el('span', { class: 'm-name', text: 'No models found' })));
    // last_build: ISO time of the last finished run; build.last: its counts
    // (only for runs of this server process).
    const last = pick(st.build || {}, 'last');
    let lbText = st.lastBuild ? fmtDate(st.lastBuild) : 'Never';
    if (last && typeof last === 'object') {
      const added = (+last.added || 0) + (+last.changed || 0);
      const failed = +last.failed || 0;
      lbText = [lbText, fmtNum(last.files) + ' files', added ? fmtNum(added) + ' new or changed' : 'nothing new',
        last.seconds != null ? (last.seconds < 1 ? '<1s' : fmtDur(last.seconds)) : null, failed ? failed + ' failed' : null].filter(Boolean).join(' · ');
    }
    $('#last-build').textContent = lbText;
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

  // ------------------------------------------------------------ build
  const buildBtn = $('#build-btn');
  let buildTimer = 0;
  function renderBuild() {
    const b = state.build;
    const txt = $('.build-text', buildBtn);
    const bar = $('#build-progress');
    buildBtn.classList.toggle('running', !!(b && b.running));
    if (b && b.running) {
      const p = b.total ? Math.min(1, b.done / b.total) : 0;
      buildBtn.style.setProperty('--p', p);
      bar.style.setProperty('--p', p);
      bar.classList.add('on');
      const PH = { scan: 'Scanning…', hash: 'Checking…', cleanup: 'Finishing…' };
      txt.textContent = PH[b.phase] || (b.total ? 'Indexing ' + Math.round(p * 100) + '%' : 'Scanning…');
      const eta = b.eta != null && isFinite(b.eta) ? ' · ' + fmtDur(b.eta) + ' left' : '';
      const rate = b.rate ? ' · ' + (+b.rate).toFixed(1) + '/s' : '';
      buildBtn.title = fmtNum(b.done) + ' of ' + fmtNum(b.total) + rate + eta + (b.errors ? ' · ' + b.errors + ' errors' : '');
      buildBtn.setAttribute('aria-busy', 'true');
      $('#build-status').textContent = 'Indexing: ' + fmtNum(b.done) + ' of ' + fmtNum(b.total);
    } else {
      buildBtn.style.setProperty('--p', 0);
      bar.classList.remove('on');
      txt.textContent = 'Build Index';
      buildBtn.title = 'Index new and changed images';
      buildBtn.removeAttribute('aria-busy');
    }
  }
  async function pollBuild() {
    clearTimeout(buildTimer);
    let b;
    try { b = normBuild(await api('/api/build')); } catch (e) { buildTimer = setTimeout(pollBuild, 2000); return; }
    const was = state.build && state.build.running;
    state.build = b;
    renderBuild();
    if (b.running && (empty.dataset.state === 'building' || empty.dataset.state === 'no-index')) render();
    if (b.running) {
      buildTimer = setTimeout(pollBuild, 400);
      refreshStatsSoon();
    } else if (was) {
      finishBuild(b);
    }
  }
  async function finishBuild(b) {
    const n = b.total || b.done;
    if (b.state === 'failed' || b.state === 'cancelled') {
      renderBuild();
      toast('Index build ' + b.state + (b.message ? ': ' + b.message : ''), 'error');
      await refreshStats();
      render();
      return;
    }
    $('#build-status').textContent = 'Index built';
    // The uploads are indexed now: keep only the failures in the tray.
    trayList.querySelectorAll('.up.ok').forEach((r) => r.remove());
    if (!trayList.children.length) tray.hidden = true;
    else updateTrayTitle();
    $('#tray-foot').hidden = true;
    buildBtn.classList.add('done');
    $('.build-text', buildBtn).textContent = b.errors ? 'Done · ' + b.errors + ' errors' : 'Index ready';
    setTimeout(() => { buildBtn.classList.remove('done'); renderBuild(); }, 1800);
    if (b.errors) toast('Indexed ' + fmtNum(n) + ' images, ' + b.errors + ' could not be read', 'error');
    else toast(n ? 'Index ready · ' + fmtNum(n) + (n === 1 ? ' image' : ' images') + ' indexed' : 'Index is up to date');
    await refreshStats();
    runSearch(); // the library or the current search, with the new images
  }
  async function startBuild() {
    if (state.build && state.build.running) return;
    try {
      const j = await api('/api/build', { method: 'POST' });
      state.build = Object.assign(normBuild(j), { running: true });
    } catch (e) {
      if (e.status !== 409) { toast('Could not start the build: ' + e.message, 'error'); return; }
      state.build = { running: true, done: 0, total: 0 };
    }
    renderBuild();
    updateTrayTitle();
    render();
    pollBuild();
  }
  buildBtn.addEventListener('click', startBuild);
  $('#tray-build').addEventListener('click', startBuild);

  // ------------------------------------------------------------ upload
  const fileInput = $('#file-input');
  const tray = $('#tray'), trayList = $('#tray-list');
  const queue = [];
  let active = 0, uploadedOk = 0;
  const MAX_PARALLEL = 3;

  $('#upload-btn').addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => { addFiles(fileInput.files); fileInput.value = ''; });
  $('#tray-close').addEventListener('click', () => { tray.hidden = true; trayList.replaceChildren(); });

  function addFiles(list) {
    const files = Array.from(list || []);
    if (!files.length) return;
    tray.hidden = false;
    for (const f of files) {
      const row = el('li', { class: 'up', 'data-file': f.name },
        el('span', { class: 'up-ico' }, svgIcon(ICON.image)),
        el('span', { class: 'up-name', title: f.name, text: f.name }),
        el('span', { class: 'up-state', text: 'Waiting' }),
        el('span', { class: 'up-bar', role: 'progressbar', 'aria-label': 'Upload of ' + f.name, 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, el('span')));
      if (/^image\//.test(f.type) && f.size < 20e6) {
        const u = URL.createObjectURL(f);
        const im = el('img', { alt: '', src: u });
        im.onload = () => URL.revokeObjectURL(u);
        im.onerror = () => { URL.revokeObjectURL(u); im.remove(); };
        $('.up-ico', row).replaceChildren(im);
      }
      trayList.append(row);
      queue.push({ file: f, row });
    }
    updateTrayTitle();
    pump();
  }

  function updateTrayTitle() {
    const rows = trayList.children.length;
    const ok = trayList.querySelectorAll('.up.ok').length;
    const bad = trayList.querySelectorAll('.up.err').length;
    const busy = rows - ok - bad;
    $('#tray-title').textContent = busy ? 'Uploading ' + (ok + bad + 1) + ' of ' + rows
      : !ok ? bad + (bad === 1 ? ' upload failed' : ' uploads failed') : ok + ' uploaded' + (bad ? ' · ' + bad + ' failed' : '');
    $('#tray-foot').hidden = busy > 0 || ok === 0 || !!(state.build && state.build.running);
  }

  function pump() {
    while (active < MAX_PARALLEL && queue.length) {
      active++;
      uploadOne(queue.shift()).finally(() => { active--; updateTrayTitle(); pump(); if (!active && !queue.length) uploadsDone(); });
    }
  }

  // The answer lists every file part (docs/api.md); we send one per request.
  function uploadError(status, f) {
    const m = f && pick(f, 'error.message');
    const detail = typeof m === 'string' && m ? m : '';
    if (status === 413) return 'Too large' + (detail ? ' — ' + detail : '');
    if (status === 415) return 'Not a supported image' + (detail ? ' — ' + detail : '');
    if (!status) return 'Network error';
    return detail || 'Upload failed (HTTP ' + status + ')';
  }

  function uploadOne({ file, row }) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      const fd = new FormData();
      fd.append('files', file, file.name);
      const stateEl = $('.up-state', row), bar = $('.up-bar', row);
      stateEl.textContent = '0%';
      xhr.upload.addEventListener('progress', (e) => {
        if (!e.lengthComputable) return;
        const p = e.loaded / e.total;
        bar.firstChild.style.setProperty('--p', p);
        bar.setAttribute('aria-valuenow', String(Math.round(p * 100)));
        stateEl.textContent = Math.round(p * 100) + '%';
      });
      const fail = (msg) => {
        row.classList.add('err');
        row.dataset.status = 'error';
        $('.up-ico', row).replaceChildren(svgIcon(ICON.alert));
        row.append(el('span', { class: 'up-err', role: 'alert', text: msg }));
        trayList.prepend(row); // errors first, where they are seen
        resolve(false);
      };
      xhr.addEventListener('load', () => {
        let j = null;
        try { j = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        const files = pick(j || {}, 'files') || [];
        const mine = Array.isArray(files) && files.length ? files[0] : null;
        if (xhr.status >= 200 && xhr.status < 300 && (!mine || mine.ok !== false)) {
          row.classList.add('ok');
          row.dataset.status = 'ok';
          bar.firstChild.style.setProperty('--p', 1);
          const stored = mine && pick(mine, 'name');
          stateEl.textContent = stored && stored !== file.name ? 'Saved as ' + stored : 'Done';
          uploadedOk++;
          resolve(true);
        } else if (mine) fail(uploadError(+pick(mine, 'status') || xhr.status, mine));
        else fail(uploadError(xhr.status, j ? { error: { message: errText(j, xhr.status) } } : null));
      });
      xhr.addEventListener('error', () => fail('Network error'));
      xhr.addEventListener('abort', () => fail('Cancelled'));
      xhr.open('POST', '/api/upload');
      xhr.setRequestHeader('Accept', 'application/json');
      if (TOKEN) xhr.setRequestHeader('Authorization', 'Bearer ' + TOKEN);
      xhr.send(fd);
    });
  }

  async function uploadsDone() {
    updateTrayTitle();
    if (uploadedOk) {
      uploadedOk = 0;
      await refreshStats();
      render();
    }
  }

  // Drag and drop anywhere on the page.
  const drop = $('#drop');
  let dragDepth = 0;
  const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files');
  window.addEventListener('dragenter', (e) => { if (!hasFiles(e)) return; e.preventDefault(); dragDepth++; drop.classList.add('on'); });
  window.addEventListener('dragover', (e) => { if (!hasFiles(e)) return; e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; });
  window.addEventListener('dragleave', (e) => { if (!hasFiles(e)) return; dragDepth = Math.max(0, dragDepth - 1); if (!dragDepth) drop.classList.remove('on'); });
  window.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth = 0;
    drop.classList.remove('on');
    addFiles(e.dataTransfer.files);
  });

  // ------------------------------------------------------------ start
  (async function init() {
    const p = new URLSearchParams(location.search);
    state.query = p.get('q') || '';
    state.similar = p.get('similar') ? { key: p.get('similar'), name: p.get('similar') } : null;
    const w = parseFloat(p.get('w'));
    if (isFinite(w) && w >= 0 && w <= 1) { state.weight = w; state.weightSet = true; }
    q.value = state.query;
    weight.value = String(state.weight);
    setWeightLabel();
    // The panel sits beside the grid on wide screens (open unless closed
    // before); on narrow ones it is an overlay, opened on demand only.
    const wide = window.matchMedia('(min-width: 1101px)');
    let statsOn = wide.matches;
    try { if (wide.matches && localStorage.getItem('lisa-stats') === '0') statsOn = false; } catch (e) { /* ignore */ }
    wide.addEventListener('change', () => { if (!wide.matches && !$('#stats').hidden) { $('#stats').hidden = true; $('#stats-btn').setAttribute('aria-expanded', 'false'); } });
    $('#stats').hidden = !statsOn;
    $('#stats-btn').setAttribute('aria-expanded', String(statsOn));
    await Promise.all([refreshStats(), pollBuild()]);
    runSearch(); // opens on the library (newest first) without a query
    setInterval(() => { if (!$('#stats').hidden && !document.hidden) refreshStats(); }, 5000);
    document.documentElement.classList.add('ready');
  })();

  // Exposed for the browser tests and for debugging in the console.
  window.lisa = { state, runSearch, refreshStats };
})();
