// The lightbox: the full image, its description, caption, chips grouped by
// source, OCR text with the matched words marked, details, similar, delete.
import { $, el, toast } from './dom.js';
import { api, enc, CHIP_SOURCES } from './api.js';
import { fmtBytes, fmtScore, fmtDate, fold, words, queryTokens, kwMatches, highlight } from './format.js';
import { state } from './state.js';
import { render, altOf, clipMissing, modelCommand } from './library.js';
import { showSimilar } from './search.js';
import { refreshStats } from './stats.js';

let lbReturn = null, delTimer = 0;
const lb = () => $('#lightbox');
const GROUP = { caption: 'From the caption', ocr: 'Text in image', name: 'From the file name', meta: 'From the metadata' };

function chip(word, hit, ocr) {
  return el('span', { class: 'chip' + (ocr ? ' ocr' : hit ? ' hit' : ''), title: ocr ? 'Matched in text found in the image (OCR)' : hit ? 'Matched your query' : null },
    word, ocr ? el('small', { text: 'OCR' }) : null);
}

// Chips grouped by source (the result's `chips`); a server without them
// gives the flat `keywords` list, with OCR words that matched added.
function renderChips(r, toks) {
  const box = $('#lb-keywords');
  box.replaceChildren();
  const query = !state.similar;
  if (r.chips) {
    for (const src of CHIP_SOURCES) {
      const list = r.chips[src];
      if (!list.length) continue;
      const hitSrc = r.sources.includes(src);
      box.append(el('div', { class: 'chip-group', 'data-source': src },
        el('h4', { text: GROUP[src] }),
        el('div', { class: 'chips' }, list.map((w) => { const hit = query && hitSrc && kwMatches(w, toks); return chip(w, hit, hit && src === 'ocr'); }))));
    }
  } else {
    const flat = el('div', { class: 'chips' });
    const ocrWords = new Set(words(r.ocr));
    const fromOcr = r.sources.includes('ocr');
    const seen = new Set();
    for (const k of r.keywords) {
      const f = fold(k);
      if (seen.has(f)) continue;
      seen.add(f);
      const hit = query && kwMatches(k, toks);
      // matched_in says which sources matched, not which word: a hit is shown
      // as an OCR match when OCR matched and it is in the OCR text (or OCR
      // was the only matching source).
      flat.append(chip(k, hit, hit && fromOcr && (ocrWords.has(f) || r.sources.every((x) => x === 'ocr'))));
    }
    if (fromOcr && query) {
      for (const w of r.ocr.split(/[^\p{L}\p{N}]+/u)) {
        const f = fold(w);
        if (!f || seen.has(f) || !kwMatches(w, toks)) continue;
        seen.add(f);
        flat.append(chip(f, true, true));
      }
    }
    if (flat.children.length) box.append(flat);
  }
  if (!box.children.length) box.append(el('span', { class: 'chips-empty', text: 'No keywords' }));
}

function renderMatched(r) {
  const SRC = { name: 'file name', meta: 'metadata', caption: 'caption', ocr: 'text in image (OCR)', clip: 'CLIP' };
  const mi = $('#lb-matched');
  mi.replaceChildren();
  if (!state.similar && r.sources.length) {
    mi.append('Matched in ');
    r.sources.forEach((x, n) => {
      if (n) mi.append(n === r.sources.length - 1 ? ' and ' : ', ');
      mi.append(el('b', { class: x === 'ocr' ? 'src-ocr' : null, text: SRC[x] || x }));
    });
  }
  mi.hidden = !mi.childNodes.length;
}

function renderMeta(r) {
  const meta = $('#lb-meta');
  meta.replaceChildren();
  const rows = [
    ['Name', r.original],
    ['Stored as', r.name !== r.original ? r.name : null],
    ['Dimensions', r.width && r.height ? r.width + ' × ' + r.height + ' px' : null],
    ['File size', r.size != null ? fmtBytes(r.size) : null],
    ['Date', fmtDate(r.date)],
    ['Camera', r.camera || null],
    ['Format', r.format || null],
  ];
  for (const [k, v] of rows) if (v) meta.append(el('dt', { text: k }), el('dd', { text: v }));
}

export function openLightbox(i) {
  if (i < 0 || i >= state.results.length) return;
  const box = lb();
  if (box.hidden) lbReturn = document.activeElement;
  state.lbIndex = i;
  const r = state.results[i];
  const img = $('#lb-img');
  img.src = r.image;
  img.alt = altOf(r);
  $('#lb-title').textContent = r.original;
  $('#lb-pos').textContent = (state.similar ? 'Similar · ' : '') + (i + 1) + ' of ' + state.results.length;
  $('#lb-scores').replaceChildren(
    el('div', { class: 'lb-score' }, el('span', { text: 'Score' }), el('b', { text: fmtScore(r.score) })),
    el('div', { class: 'lb-score clip' }, el('span', { text: 'CLIP' }), el('b', { text: fmtScore(r.clip) })),
    el('div', { class: 'lb-score kw' }, el('span', { text: 'Keywords' }), el('b', { text: fmtScore(r.kw) })));
  // A listing (the library) has no scores at all: no boxes of dashes.
  $('#lb-scores').hidden = r.score == null && r.clip == null && r.kw == null;
  $('#lb-desc').textContent = r.description;
  $('#lb-desc').hidden = !r.description;
  $('#lb-caption').textContent = r.caption ? 'Caption: ' + r.caption : '';
  $('#lb-caption').hidden = !r.caption;
  const toks = state.similar ? [] : queryTokens(state.query, []);
  renderChips(r, toks);
  renderMatched(r);
  $('#lb-ocr-wrap').hidden = !r.ocr;
  if (r.ocr) $('#lb-ocr').replaceChildren(...highlight(r.ocr, toks).map((p) => (p.hit ? el('mark', { text: p.text }) : p.text)));
  renderMeta(r);
  $('#lb-open').href = r.image;
  disarmDelete();
  $('#lb-delete').hidden = !r.uploaded || r.id == null; // external folders are never deleted from here
  const sim = $('#lb-similar');
  sim.disabled = clipMissing();
  sim.title = sim.disabled ? 'Similar images need a CLIP model: ' + modelCommand() : 'Find images that look like this one';
  $('#lb-prev').disabled = i === 0;
  $('#lb-next').disabled = i === state.results.length - 1;
  if (box.hidden) {
    box.hidden = false;
    document.body.style.overflow = 'hidden';
    $('#lb-close').focus();
  }
  // Preload neighbours for snappy arrow keys.
  for (const j of [i - 1, i + 1]) if (state.results[j]) new Image().src = state.results[j].image;
}

export function closeLightbox() {
  const box = lb();
  if (box.hidden) return;
  box.hidden = true;
  document.body.style.overflow = '';
  $('#lb-img').removeAttribute('src');
  if (lbReturn && lbReturn.isConnected) lbReturn.focus();
}

// Deleting an upload takes two clicks: the first arms the button for a few
// seconds ("Delete file?"), the second deletes. No modal dialog to dismiss.
function disarmDelete() {
  clearTimeout(delTimer);
  const b = $('#lb-delete');
  b.classList.remove('armed');
  b.textContent = 'Delete';
  b.setAttribute('aria-label', 'Delete this uploaded file');
}

async function onDelete() {
  const b = $('#lb-delete'), r = state.results[state.lbIndex];
  if (!r) return;
  if (!b.classList.contains('armed')) {
    b.classList.add('armed');
    b.textContent = 'Delete file? Click again';
    b.setAttribute('aria-label', 'Click again to delete ' + r.original);
    delTimer = setTimeout(disarmDelete, 4000);
    return;
  }
  disarmDelete();
  b.disabled = true;
  try {
    await api('/api/image/' + enc(r.id), { method: 'DELETE' });
    toast('Deleted ' + r.original + '.');
    const i = state.results.indexOf(r);
    if (i >= 0) { state.results.splice(i, 1); state.total = Math.max(0, state.total - 1); }
    render();
    if (state.results.length) openLightbox(Math.min(i, state.results.length - 1));
    else closeLightbox();
    refreshStats();
  } catch (e) {
    toast('Could not delete ' + r.original + '. ' + e.message, 'error');
  } finally {
    b.disabled = false;
  }
}

function onKey(e) {
  const box = lb();
  if (box.hidden) return false;
  if (e.key === 'Escape') { e.preventDefault(); closeLightbox(); }
  else if (e.key === 'ArrowLeft') { e.preventDefault(); openLightbox(state.lbIndex - 1); }
  else if (e.key === 'ArrowRight') { e.preventDefault(); openLightbox(state.lbIndex + 1); }
  else if (e.key === 'Tab') { // keep focus inside the dialog
    const f = Array.from(box.querySelectorAll('button:not([disabled]), a[href]')).filter((n) => n.offsetParent);
    if (!f.length) return true;
    const first = f[0], last = f[f.length - 1];
    if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
  }
  return true;
}

export function initLightbox() {
  lb().addEventListener('click', (e) => { if (e.target.closest('[data-close]')) closeLightbox(); });
  $('#lb-prev').addEventListener('click', () => openLightbox(state.lbIndex - 1));
  $('#lb-next').addEventListener('click', () => openLightbox(state.lbIndex + 1));
  $('#lb-delete').addEventListener('click', onDelete);
  $('#lb-similar').addEventListener('click', () => {
    const r = state.results[state.lbIndex];
    if (!r) return;
    closeLightbox();
    showSimilar(r);
    window.scrollTo({ top: 0, behavior: 'smooth' });
  });
  return onKey;
}
