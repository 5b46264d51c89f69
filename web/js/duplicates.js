// The duplicates review (GET /api/duplicates): exact copies and near
// duplicates in groups; per group, keep one and delete the other uploads,
// or keep them all. Files in external folders are never deleted from here.
import { $, el, toast } from './dom.js';
import { api, enc, normDupGroup } from './api.js';
import { fmtBytes, fmtNum, fmtPct, fmtDate } from './format.js';
import { refreshStats } from './stats.js';

const body = () => $('#dups-body');
const KEPT = 'lisa-dups-kept';
const groupKey = (g) => g.images.map((r) => r.key).sort().join(',');

function keptSet() {
  try { return new Set(JSON.parse(localStorage.getItem(KEPT) || '[]')); } catch (e) { return new Set(); }
}
function keepAll(g) {
  const s = keptSet();
  s.add(groupKey(g));
  try { localStorage.setItem(KEPT, JSON.stringify(Array.from(s))); } catch (e) { /* private mode */ }
}

function message(text) {
  body().replaceChildren(el('p', { class: 'page-msg', role: 'status', text }));
}

async function deleteOthers(g, keep, li) {
  const doomed = g.images.filter((r) => r !== keep && r.uploaded && r.id != null);
  let n = 0;
  for (const r of doomed) {
    try {
      await api('/api/image/' + enc(r.id), { method: 'DELETE' });
      n++;
    } catch (e) {
      toast('Could not delete ' + r.original + '. ' + e.message, 'error');
    }
  }
  if (n) toast('Deleted ' + fmtNum(n) + (n === 1 ? ' copy' : ' copies') + '; kept ' + keep.original + '.');
  li.remove();
  updateCount();
  refreshStats();
}

function updateCount() {
  const n = body().querySelectorAll('.dup-group').length;
  $('#dups-count').textContent = n ? fmtNum(n) + (n === 1 ? ' group' : ' groups') : '';
  if (!n) message('No duplicates left to review.');
}

function groupItem(g, gi) {
  const name = 'keep-' + gi;
  let keep = g.images.find((r) => r.uploaded === false) || g.images[0];
  const del = el('button', { class: 'btn btn-danger btn-sm', type: 'button' });
  const li = el('li', { class: 'dup-group', 'data-kind': g.kind });
  const sync = () => {
    const n = g.images.filter((r) => r !== keep && r.uploaded && r.id != null).length;
    del.textContent = n ? 'Keep the chosen one, delete ' + n + (n === 1 ? ' upload' : ' uploads') : 'Nothing to delete (not uploads)';
    del.disabled = !n;
  };
  const imgs = g.images.map((r, i) => {
    const radio = el('input', { type: 'radio', name, value: String(i), checked: r === keep, 'aria-label': 'Keep ' + r.original });
    radio.addEventListener('change', () => { keep = r; sync(); });
    return el('li', { class: 'dup-img' },
      el('label', {},
        el('img', { src: r.thumb, alt: r.caption || r.original, loading: 'lazy' }),
        el('span', { class: 'dup-pick' }, radio, el('span', { text: 'Keep' })),
        el('b', { class: 'dup-name', title: r.original, text: r.original }),
        el('span', { class: 'dup-meta', text: [r.width && r.height ? r.width + '×' + r.height : null, r.size != null ? fmtBytes(r.size) : null, fmtDate(r.date)].filter(Boolean).join(' · ') }),
        el('span', { class: 'dup-where', text: r.uploaded ? 'Upload' : 'In a folder: not deleted from here' })));
  });
  const keepBtn = el('button', { class: 'btn btn-ghost btn-sm', type: 'button' }, 'Keep all');
  keepBtn.addEventListener('click', () => { keepAll(g); li.remove(); updateCount(); });
  del.addEventListener('click', () => deleteOthers(g, keep, li));
  sync();
  li.append(
    el('div', { class: 'dup-head' },
      el('h3', { text: g.kind === 'exact' ? 'Exact copies' : 'Near duplicates' + (g.similarity != null ? ' · ' + fmtPct(g.similarity) + ' alike' : '') }),
      el('span', { class: 'dup-n', text: fmtNum(g.images.length) + ' images' })),
    el('ul', { class: 'dup-imgs' }, imgs),
    el('div', { class: 'dup-actions' }, keepBtn, del));
  return li;
}

export async function showDuplicates() {
  message('Looking for duplicates…');
  let j;
  try {
    j = await api('/api/duplicates');
  } catch (e) {
    message(e.status === 404 ? 'This LISA server cannot look for duplicates yet.' : e.message);
    return;
  }
  const kept = keptSet();
  const groups = (Array.isArray(j.groups) ? j.groups : []).map(normDupGroup).filter((g) => g.images.length > 1 && !kept.has(groupKey(g)));
  if (!groups.length) { $('#dups-count').textContent = ''; message('No duplicates: every photo in the library is different.'); return; }
  body().replaceChildren(el('ul', { class: 'dup-list' }, groups.map(groupItem)));
  updateCount();
}
