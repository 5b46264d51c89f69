// Settings: the folders LISA indexes (GET/POST/DELETE /api/folders), with
// their image counts and status.
import { $, el, toast } from './dom.js';
import { api, normFolder } from './api.js';
import { fmtNum } from './format.js';
import { refreshStats } from './stats.js';

const STATUS = { ok: 'OK', missing: 'Missing', unreadable: 'Unreadable' };
const list = () => $('#folders');

function message(text) {
  list().replaceChildren(el('li', { class: 'page-msg', role: 'status', text }));
}

async function remove(f, btn) {
  if (!btn.classList.contains('armed')) {
    btn.classList.add('armed');
    btn.textContent = 'Remove? Click again';
    setTimeout(() => { btn.classList.remove('armed'); btn.textContent = 'Remove'; }, 4000);
    return;
  }
  btn.disabled = true;
  try {
    const j = await api('/api/folders/' + encodeURIComponent(f.id), { method: 'DELETE' });
    const n = +j.removed || 0;
    toast('Removed ' + f.path + ': ' + fmtNum(n) + (n === 1 ? ' image' : ' images') + ' left the index; the files stay on disk.');
    showSettings();
    refreshStats();
  } catch (e) {
    btn.disabled = false;
    toast('Could not remove ' + f.path + '. ' + e.message, 'error');
  }
}

function folderItem(f) {
  const rm = el('button', { class: 'btn btn-ghost btn-danger btn-sm', type: 'button', 'aria-label': 'Remove folder ' + f.path }, 'Remove');
  rm.addEventListener('click', () => remove(f, rm));
  return el('li', { class: 'folder', 'data-status': f.status },
    el('div', { class: 'folder-main' },
      el('b', { class: 'folder-path', text: f.path }),
      el('span', { class: 'folder-meta', text: [fmtNum(f.images) + (f.images === 1 ? ' image' : ' images'), f.builtin ? 'uploads folder' : null, f.watching ? 'watched for changes' : null].filter(Boolean).join(' · ') })),
    el('span', { class: 'badge badge-' + f.status, text: STATUS[f.status] || f.status }),
    f.builtin ? el('span', { class: 'folder-fixed', text: 'Always indexed' }) : rm);
}

export async function showSettings() {
  message('Loading…');
  $('#folder-msg').textContent = '';
  let j;
  try {
    j = await api('/api/folders');
  } catch (e) {
    $('#folder-form').hidden = e.status === 404;
    message(e.status === 404 ? 'This LISA server cannot list folders yet: add them with lisa serve --folder PATH.' : e.message);
    return;
  }
  $('#folder-form').hidden = false;
  const folders = (Array.isArray(j.folders) ? j.folders : []).map(normFolder);
  $('#auto-index').textContent = j.auto_index === true ? 'New and changed files are indexed automatically.' : j.auto_index === false ? 'New files are indexed when you press Build Index.' : '';
  if (!folders.length) message('No folders yet.');
  else list().replaceChildren(...folders.map(folderItem));
}

async function add(e) {
  e.preventDefault();
  const input = $('#folder-path'), msg = $('#folder-msg');
  const path = input.value.trim();
  if (!path) { msg.textContent = 'Type the full path of a folder, like /home/me/Pictures.'; input.focus(); return; }
  try {
    const f = normFolder(await api('/api/folders', { method: 'POST', json: { path } }));
    input.value = '';
    msg.textContent = 'Added ' + f.path + '.';
    toast('Added ' + f.path + '.');
    await showSettings();
    $('#folder-msg').textContent = 'Added ' + f.path + '.';
    refreshStats();
  } catch (err) {
    msg.textContent = err.message;
    input.focus();
  }
}

export function initSettings() {
  $('#folder-form').addEventListener('submit', add);
}
