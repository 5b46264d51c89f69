// Pages beside the photos: #duplicates, #failures, #settings (the address's
// hash). Each page loads when shown.
import { $, $$ } from './dom.js';
import { state } from './state.js';
import { showDuplicates } from './duplicates.js';
import { showFailures } from './failures.js';
import { showSettings } from './settings.js';

const PAGES = { duplicates: showDuplicates, failures: showFailures, settings: showSettings };

export function go(page) {
  const want = PAGES[page] ? '#' + page : '';
  if (location.hash !== want) history.pushState(null, '', location.pathname + location.search + want);
  route();
}

export function route() {
  const page = location.hash.replace(/^#/, '');
  state.page = PAGES[page] ? page : 'photos';
  $('#results').hidden = state.page !== 'photos';
  $('#toolbar').hidden = state.page !== 'photos';
  for (const v of $$('.page')) v.hidden = v.id !== 'page-' + state.page;
  for (const b of $$('[data-page]')) b.setAttribute('aria-current', b.dataset.page === state.page ? 'page' : 'false');
  if (PAGES[state.page]) {
    PAGES[state.page]();
    const h = $('#page-' + state.page + ' h2');
    if (h) h.focus({ preventScroll: true });
  }
}

export function initViews() {
  window.addEventListener('popstate', route);
  window.addEventListener('hashchange', route);
  for (const b of $$('[data-page]')) b.addEventListener('click', (e) => { e.preventDefault(); go(b.dataset.page); });
}
