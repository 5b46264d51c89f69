// The photo grid: cards, month headers, empty states and the summary line.
import { $, el, svgIcon, ICON } from './dom.js';
import { TOKEN } from './api.js';
import { fmtBytes, fmtNum, fmtMs, fmtScore, fmtDate, monthOf, queryParts, buildLine } from './format.js';
import { state, PAGE, curSort } from './state.js';
import { runSearch, setQuery, removePart, setWeight } from './search.js';
import { openLightbox } from './lightbox.js';
import { startBuild } from './build.js';

const cardByKey = new Map();

// Alt text: the caption, else the name the file had.
export const altOf = (r) => r.caption || r.description || r.original;

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

function buildCard() {
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
  img.alt = altOf(r);
  open.setAttribute('aria-label', 'Open ' + r.original + (r.score == null ? '' : ', rank ' + (i + 1) + ', score ' + fmtScore(r.score)));
  $('.card-rank', open).textContent = r.score == null ? '' : '#' + (i + 1);
  $('.card-rank', open).hidden = r.score == null;
  const src = $('.card-src', open);
  src.replaceChildren();
  if (r.sources.includes('ocr')) src.append(el('span', { class: 'tag tag-ocr', title: 'Matched text found in the image (OCR)', text: 'OCR' }));
  // A bar only for a part that was computed: no CLIP bar without a model (or
  // a vector), no keyword bar at weight 1 or for similar images; a listing
  // (the library, filters only) has no score at all.
  const bars = [];
  if (r.hasClip) bars.push(bar('clip', 'CLIP', r.clip));
  if (r.hasKw && !state.similar) bars.push(bar('kw', 'Keyword', r.kw));
  const why = r.sources.map((s) => (s === 'ocr' ? 'text in image' : s === 'meta' ? 'metadata' : s === 'clip' ? 'CLIP' : s));
  $('.card-body', li).replaceChildren(...[
    el('div', { class: 'card-head' },
      el('span', { class: 'card-name', title: r.original, text: r.original }),
      r.score == null ? null : el('span', { class: 'card-score', title: 'Total score', text: fmtScore(r.score) })),
    bars.length ? el('div', { class: 'bars' }, bars) : null,
    why.length && !state.similar ? el('div', { class: 'card-why', title: 'Why it matched', text: 'Matched: ' + why.join(' · ') }) : null,
    el('div', { class: 'card-meta', text: cardMeta(r) || '\u00a0' })].filter(Boolean));
}

function renderGrid() {
  const grid = $('#grid');
  // FLIP: remember where cards were, reuse them by key, animate the moves.
  const before = new Map();
  for (const [k, li] of cardByKey) if (li.isConnected) before.set(k, li.getBoundingClientRect());
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
    let li = cardByKey.get(r.key);
    if (!li) { li = buildCard(); cardByKey.set(r.key, li); }
    fillCard(li, r, i);
    keep.add(r.key);
    frag.push(li);
  });
  for (const k of Array.from(cardByKey.keys())) if (!keep.has(k)) cardByKey.delete(k);
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
export const clipModel = () => state.stats && state.stats.models.find((m) => m.kind === 'clip' || m.kind === 'siglip');
export const clipMissing = () => { const m = clipModel(); return m ? !m.installed : !!state.missingModel; };
export function modelCommand() {
  const m = clipModel();
  return (m && m.command) || (state.missingModel && state.missingModel.install) || 'lisa models pull clip-vit-base-patch32-laion2b';
}

function suggestions() {
  // Drop a filter, drop the last word, or browse everything.
  const tips = queryParts(state.query).map((p) => el('button', { type: 'button', class: 'tip-drop', onclick: () => removePart(p), text: 'Without ' + p.raw }));
  const words = state.query.trim().split(/\s+/);
  if (words.length > 1 && !queryParts(words[words.length - 1]).length)
    tips.push(el('button', { type: 'button', onclick: () => setQuery(words.slice(0, -1).join(' ')), text: 'Search “' + words.slice(0, -1).join(' ') + '”' }));
  if (!clipMissing() && state.weight < 0.5 && !state.listing)
    tips.push(el('button', { type: 'button', onclick: () => setWeight(0.7), text: 'Search by meaning too (CLIP)' }));
  if (!clipMissing() && state.weight > 0.5 && !state.listing)
    tips.push(el('button', { type: 'button', onclick: () => setWeight(0.5), text: 'Balance CLIP and keywords' }));
  tips.push(el('button', { type: 'button', class: 'tip-all', onclick: () => setQuery(''), text: 'Browse all photos' }));
  return el('div', { class: 'suggest' }, tips);
}

function emptyState(kind) {
  const st = state.stats;
  const empty = $('#empty');
  let art = ICON.search, title = '', text = '', actions = [], extra = null;
  switch (kind) {
    case 'offline':
      art = ICON.alert;
      title = 'LISA is not running';
      text = 'The page cannot reach the LISA server. Start it with lisa serve; this page reconnects by itself.';
      actions = [el('button', { class: 'btn btn-ghost', type: 'button', onclick: runSearch }, 'Try again')];
      break;
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
      actions = [el('button', { class: 'btn btn-primary', type: 'button', onclick: () => startBuild() }, svgIcon(ICON.bolt), 'Build Index')];
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
        el('span', { class: 'ep-text', text: buildLine(b) || 'Scanning…' }));
      break;
    }
    case 'no-results':
      title = 'No matches';
      text = state.emptyMsg || ('Nothing matches “' + state.query.trim() + '”.');
      extra = suggestions();
      break;
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
  }
  const cmdBlock = kind === 'no-model'
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

export function render() {
  const st = state.stats;
  const hasQuery = !!(state.query.trim() || state.similar);
  const noClip = clipMissing();
  $('#model-cmd').textContent = modelCommand();
  // Which empty state, if any: library problems first, then the query.
  let kind = null;
  const building = !!(state.build && state.build.running);
  if (state.needToken) kind = 'auth';
  else if (state.offline && !state.results.length) kind = 'offline';
  else if (hasQuery && state.badQuery) kind = 'bad-query';
  else if (hasQuery && state.error) kind = 'error';
  else if (st && !st.images && building) kind = 'building';
  else if (st && !st.images && !st.uploads) kind = 'no-images';
  else if (st && !st.images) kind = 'no-index';
  else if (hasQuery && !state.results.length && !state.searching) kind = 'no-results';
  if (['error', 'bad-query', 'no-images', 'no-index', 'building'].includes(kind)) state.results = [];
  $('#results').dataset.view = state.view;
  const more = $('#more');
  more.dataset.state = state.results.length < state.total && !kind ? 'more' : state.results.length && !kind ? 'end' : 'none';
  more.textContent = more.dataset.state === 'end' && state.total > PAGE ? (state.view === 'library' ? 'All ' + fmtNum(state.total) + ' photos' : 'All ' + fmtNum(state.total) + ' results') : '';
  $('#model-banner').hidden = !noClip || state.offline;
  $('#disk-banner').hidden = !(st && st.diskFull);
  // Without CLIP there is nothing to weigh: the slider is shown but off.
  // Similar images are ranked by CLIP alone: nothing to weigh either.
  const weight = $('#weight');
  weight.disabled = noClip || !!state.similar;
  $('.weight').classList.toggle('off', weight.disabled);
  $('.weight').title = noClip ? 'Needs a CLIP model: search uses keywords only' : state.similar ? 'Similar images are ranked by CLIP alone' : '';
  if (kind) emptyState(kind);
  else { $('#empty').classList.remove('on'); $('#empty').removeAttribute('data-state'); }
  renderGrid();
  renderSummary();
}

function renderSummary() {
  const summary = $('#summary');
  summary.replaceChildren();
  if (state.similar) {
    summary.append('Images similar to ', el('b', { text: state.similar.name }), ' ',
      el('button', { class: 'btn btn-ghost btn-sm', type: 'button', onclick: () => { state.similar = null; runSearch(); } }, 'Clear'));
    return;
  }
  if (state.error || state.tooLong) return;
  if (state.view === 'library') {
    if (state.total) summary.append(el('b', { text: fmtNum(state.total) }), state.total === 1 ? ' photo' : ' photos', state.listing && state.query.trim() ? ' match the filters' : '');
    return;
  }
  const n = state.total;
  summary.append(el('b', { text: fmtNum(n) }), state.listing ? (n === 1 ? ' photo matches' : ' photos match') : n === 1 ? ' result' : ' results');
  if (state.latency != null && isFinite(state.latency)) summary.append(' in ', el('b', { text: fmtMs(state.latency) }));
  if (state.keywordOnly) summary.append(el('span', { class: 'pill', title: state.searchMessage || '', text: 'keywords only' }));
}
