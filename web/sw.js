// LISA's service worker: the app shell offline, never a stale API answer.
//
// - The shell (SHELL below, plus any other static file once fetched) is
//   network-first: a running server always wins, so a new build's UI shows at
//   once; the cached copy is only for when the server cannot be reached, and
//   then the page shows "LISA is not running" (pwa.js).
// - /api/* is network-only: never read from or written to a cache. When the
//   server is unreachable the answer is a 503 JSON error with code "offline",
//   so the UI's error path runs instead of showing old results as fresh.
// - POST /share (the manifest's share_target) is re-sent with the bearer
//   token, which pwa.js keeps in the cache "lisa-auth" (a navigation carries no
//   Authorization header), then the app opens on the server's redirect.
const VERSION = 'lisa-shell-v1';
const AUTH = 'lisa-auth';
const SHELL = ['/', '/index.html', '/app.js', '/style.css', '/pwa.js', '/manifest.webmanifest',
  '/icons/icon-192.png', '/icons/icon-512.png'];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(VERSION).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== VERSION && k !== AUTH).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

const offline = () => new Response(JSON.stringify({ error: { code: 'offline', message: 'LISA is not running' } }), {
  status: 503, headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
});

async function token() {
  const c = await caches.open(AUTH);
  const r = await c.match('/__lisa/token');
  return r ? (await r.text()) : '';
}

async function share(req) {
  try {
    const body = await req.formData();
    const t = await token();
    const r = await fetch('/share', { method: 'POST', body, headers: t ? { Authorization: 'Bearer ' + t } : {} });
    if (r.redirected) return Response.redirect(r.url, 303);
    return Response.redirect('/?shared=0&failed=1&status=' + r.status, 303);
  } catch (e) {
    return Response.redirect('/?shared=0&failed=1&offline=1', 303);
  }
}

async function shell(req) {
  const url = new URL(req.url);
  const key = req.mode === 'navigate' ? '/' : url.pathname; // any page URL (?token=, ?shared=) is the shell
  try {
    const r = await fetch(req);
    if (r.ok && r.type === 'basic') {
      const copy = r.clone();
      caches.open(VERSION).then((c) => c.put(key, copy));
    }
    return r;
  } catch (e) {
    const hit = await caches.match(key, { ignoreSearch: true });
    if (hit) return hit;
    throw e;
  }
}

self.addEventListener('fetch', (e) => {
  const req = e.request;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === '/share' && req.method === 'POST') return e.respondWith(share(req));
  if (url.pathname.startsWith('/api/')) return e.respondWith(fetch(req).catch(offline));
  if (req.method !== 'GET') return;
  e.respondWith(shell(req));
});
