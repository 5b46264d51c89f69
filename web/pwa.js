// The installable app: registers the service worker (sw.js), keeps the
// bearer token for the installed app, follows the theme in the browser's
// chrome, and says "LISA is not running" when the server cannot be reached.
//
// Loaded as a module before app.js (both run after parsing, in order), so it
// can put a remembered ?token= back on the URL before app.js reads it: the
// installed app opens on start_url, which has no token.
const TOKEN_KEY = 'lisa-token';
const THEME = { light: '#f6f6f9', dark: '#0e0e13' };

function keepToken() {
  const q = new URLSearchParams(location.search);
  let t = q.get('token');
  try {
    if (t) localStorage.setItem(TOKEN_KEY, t);
    else t = localStorage.getItem(TOKEN_KEY);
  } catch (e) { /* storage off: the URL's token only */ }
  if (t && !q.get('token')) {
    q.set('token', t);
    history.replaceState(history.state, '', location.pathname + '?' + q.toString() + location.hash);
  }
  return t;
}

async function shareToken(t) {
  if (!('caches' in self)) return;
  const c = await caches.open('lisa-auth');
  if (t) await c.put('/__lisa/token', new Response(t));
  else await c.delete('/__lisa/token');
}

function themeColour() {
  let m = document.querySelector('meta[name="theme-color"]');
  if (!m) {
    m = document.createElement('meta');
    m.name = 'theme-color';
    document.head.appendChild(m);
  }
  const apply = () => { m.content = THEME[document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light']; };
  apply();
  new MutationObserver(apply).observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
}

function banner(show) {
  let b = document.getElementById('lisa-offline');
  if (!show) { if (b) b.remove(); return; }
  if (b) return;
  b = document.createElement('div');
  b.id = 'lisa-offline';
  b.setAttribute('role', 'alert');
  b.style.cssText = 'position:fixed;inset:auto 16px 16px 16px;z-index:9999;padding:14px 18px;border-radius:12px;' +
    'background:#1f1f29;color:#fff;font:500 15px/1.4 "Space Grotesk",system-ui,sans-serif;box-shadow:0 8px 30px #0006';
  const h = document.createElement('strong');
  h.textContent = 'LISA is not running';
  const p = document.createElement('div');
  p.style.cssText = 'opacity:.8;font-weight:400';
  p.textContent = 'Start it on your computer (lisa serve), then this page reconnects by itself.';
  b.append(h, p);
  document.body.appendChild(b);
}

async function health() {
  try {
    const r = await fetch('/api/health', { cache: 'no-store', headers: t ? { Authorization: 'Bearer ' + t } : {} });
    const j = await r.json();
    return r.ok && j && j.status === 'ok';
  } catch (e) {
    return false;
  }
}

let down = false;
async function watchServer() {
  const up = await health();
  banner(!up);
  if (down && up) location.reload(); // back: the app starts afresh
  down = !up;
  setTimeout(watchServer, up ? 15000 : 3000);
}

const t = keepToken();
themeColour();
window.lisaPwa = { ready: false, offline: () => down };
if ('serviceWorker' in navigator) {
  shareToken(t).catch(() => {});
  navigator.serviceWorker.register('/sw.js', { scope: '/' })
    .then(() => navigator.serviceWorker.ready)
    .then(() => { window.lisaPwa.ready = true; })
    .catch((e) => console.warn('LISA: no service worker:', e.message));
}
watchServer();
