// Files the last builds could not read (GET /api/failures), with Retry.
import { $, el, toast } from './dom.js';
import { api, normFailure } from './api.js';
import { fmtBytes, fmtNum, fmtDate, sentence } from './format.js';
import { startBuild } from './build.js';

const body = () => $('#failures-body');

function message(text) {
  body().replaceChildren(el('p', { class: 'page-msg', role: 'status', text }));
}

async function retry(path, btn) {
  btn.disabled = true;
  try {
    const j = await api('/api/failures/retry', { method: 'POST', json: path ? { path } : {} });
    toast(path ? 'Retrying ' + path.split('/').pop() + '.' : 'Retrying every failed file.');
    startBuild(j);
    showFailures();
  } catch (e) {
    btn.disabled = false;
    toast(e.code === 'build_running' ? 'A build is running; retry when it finishes.' : 'Could not retry. ' + e.message, 'error');
  }
}

export async function showFailures() {
  message('Loading…');
  let j;
  try {
    j = await api('/api/failures');
  } catch (e) {
    message(e.status === 404 ? 'This LISA server does not list failed files yet; the build result counts them, and the server log names them.' : e.message);
    return;
  }
  const list = (Array.isArray(j.failures) ? j.failures : []).map(normFailure);
  $('#failures-count').textContent = list.length ? fmtNum(list.length) + (list.length === 1 ? ' file' : ' files') : '';
  if (!list.length) { message('Every file was read. Nothing failed in the last builds.'); return; }
  const all = el('button', { class: 'btn btn-primary', type: 'button', id: 'retry-all' }, 'Retry all');
  all.addEventListener('click', () => retry(null, all));
  body().replaceChildren(el('div', { class: 'page-actions' }, all),
    el('ul', { class: 'fail-list' }, list.map((f) => {
      const b = el('button', { class: 'btn btn-ghost btn-sm', type: 'button', 'aria-label': 'Retry ' + f.name }, 'Retry');
      b.addEventListener('click', () => retry(f.path, b));
      return el('li', { class: 'fail', 'data-path': f.path },
        el('div', { class: 'fail-main' },
          el('b', { class: 'fail-name', text: f.name }),
          el('span', { class: 'fail-err', text: sentence(f.error) }),
          el('span', { class: 'fail-meta', text: [f.path, f.size != null ? fmtBytes(f.size) : null, f.at ? 'failed ' + fmtDate(f.at) : null].filter(Boolean).join(' · ') })),
        b);
    })));
}
