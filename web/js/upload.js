// Uploads: the file picker, drag and drop, the tray with per-file progress,
// duplicates ("already in your library as ...") and one-sentence errors.
import { $, el, svgIcon, ICON } from './dom.js';
import { TOKEN, errMessage } from './api.js';
import { errorSentence, sentence } from './format.js';
import { state } from './state.js';
import { render } from './library.js';
import { refreshStats } from './stats.js';
import { startBuild, pollBuild } from './build.js';

const queue = [];
let active = 0, uploadedOk = 0;
const MAX_PARALLEL = 3;
const tray = () => $('#tray');
const trayList = () => $('#tray-list');

export function addFiles(list) {
  const files = Array.from(list || []);
  if (!files.length) return;
  tray().hidden = false;
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
    trayList().append(row);
    queue.push({ file: f, row });
  }
  updateTrayTitle();
  pump();
}

export function updateTrayTitle() {
  const list = trayList();
  const rows = list.children.length;
  const ok = list.querySelectorAll('.up.ok').length;
  const dup = list.querySelectorAll('.up.dup').length;
  const bad = list.querySelectorAll('.up.err').length;
  const busy = rows - ok - bad - dup;
  const parts = [];
  if (ok) parts.push(ok + ' uploaded');
  if (dup) parts.push(dup + ' already in your library');
  if (bad) parts.push(bad + ' failed');
  $('#tray-title').textContent = busy ? 'Uploading ' + (rows - busy + 1) + ' of ' + rows : parts.join(' · ') || 'Uploads';
  $('#tray-foot').hidden = busy > 0 || ok === 0 || !!(state.build && state.build.running);
}

// After a build: the indexed uploads leave the tray, failures stay.
export function clearIndexed() {
  trayList().querySelectorAll('.up.ok, .up.dup').forEach((r) => r.remove());
  if (!trayList().children.length) tray().hidden = true;
  else updateTrayTitle();
  $('#tray-foot').hidden = true;
}

function pump() {
  while (active < MAX_PARALLEL && queue.length) {
    active++;
    uploadOne(queue.shift()).finally(() => { active--; updateTrayTitle(); pump(); if (!active && !queue.length) uploadsDone(); });
  }
}

function finishRow(row, cls, stateText) {
  row.classList.add(cls);
  row.dataset.status = cls === 'ok' ? 'ok' : cls === 'dup' ? 'duplicate' : 'error';
  $('.up-bar', row).firstChild.style.setProperty('--p', 1);
  $('.up-state', row).textContent = stateText;
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
      stateEl.textContent = 'Failed';
      row.append(el('span', { class: 'up-err', role: 'alert', text: msg }));
      trayList().prepend(row); // errors first, where they are seen
      resolve(false);
    };
    xhr.addEventListener('load', () => {
      let j = null;
      try { j = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      const files = j && Array.isArray(j.files) ? j.files : [];
      const mine = files.length ? files[0] : null;
      if (xhr.status >= 200 && xhr.status < 300 && (!mine || mine.ok !== false)) {
        const dup = mine && mine.duplicate_of;
        if (dup) {
          finishRow(row, 'dup', 'Already in your library as ' + dup.name);
          row.title = mine.message ? sentence(mine.message) : '';
        } else {
          const stored = mine && mine.name;
          finishRow(row, 'ok', stored && stored !== file.name && stored !== mine.original_name ? 'Saved as ' + stored : 'Done');
          uploadedOk++;
        }
        resolve(true);
      } else if (mine) fail(errorSentence(+mine.status || xhr.status, errMessage(mine)));
      else fail(errorSentence(xhr.status, errMessage(j)));
    });
    xhr.addEventListener('error', () => fail('LISA is not running, so ' + file.name + ' was not uploaded.'));
    xhr.addEventListener('abort', () => fail('The upload of ' + file.name + ' was cancelled.'));
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
    // A server that indexes uploads by itself (auto-index) has a build running now: follow it.
    if (!(state.build && state.build.running)) pollBuild();
  }
}

export function initUpload() {
  const fileInput = $('#file-input');
  $('#upload-btn').addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => { addFiles(fileInput.files); fileInput.value = ''; });
  $('#tray-close').addEventListener('click', () => { tray().hidden = true; trayList().replaceChildren(); });
  $('#tray-build').addEventListener('click', () => startBuild());
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
}
