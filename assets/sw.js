// chatapp's service worker: the one hand-written JavaScript file (DESIGN §1, issue 14).
// Browsers run push and installability only here. It does three things and decides nothing:
// shows a pushed message (the server wrote its title and text), focuses or opens the
// conversation of a clicked notification, and shows /offline.html when a page can't load.
const CACHE = 'chatapp-offline-1';
const OFFLINE = '/offline.html';

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll([OFFLINE, '/icon-192.png']))
    .then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

// Pages come from the network, always; only when that fails, the offline page.
self.addEventListener('fetch', (event) => {
  if (event.request.mode !== 'navigate') return;
  event.respondWith(fetch(event.request).catch(() => caches.match(OFFLINE)));
});

self.addEventListener('push', (event) => {
  let n = {};
  try { n = event.data ? event.data.json() : {}; } catch (e) { n = {}; }
  event.waitUntil(self.registration.showNotification(n.title || 'chatapp', {
    body: n.body || 'New message',
    tag: n.tag || 'chatapp', // one notification per conversation: a newer one replaces it
    renotify: true,
    icon: '/icon-192.png',
    data: { url: n.url || '/' },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL((event.notification.data && event.notification.data.url) || '/', self.location.origin);
  if (url.origin !== self.location.origin) return; // only our own pages
  event.waitUntil(self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((tabs) => {
    const tab = tabs.find((t) => t.focused) || tabs[0];
    if (!tab) return self.clients.openWindow(url.href);
    return tab.focus().then((t) => (new URL(t.url).pathname === url.pathname ? t : t.navigate(url.href)));
  }));
});
