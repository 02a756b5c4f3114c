// Civic service worker: the app shell and static files come from the phone when the network is gone,
// so the patrol page keeps tracking (its GPS points wait in localStorage, see patrols.js) and a
// resident's open vouchers (QR and typed code) show at the counter with no signal.
// Served at /sw.js (scope "/"); registered by static/js/app.js.
"use strict";

var VERSION = "civic-v1";
var SHELL = VERSION + "-shell";
var PAGES = VERSION + "-pages";
var SHELL_FILES = [
  "/static/css/app.css", "/static/js/app.js", "/static/js/patrols.js", "/static/js/shop.js",
  "/static/vendor/leaflet/leaflet.css", "/static/vendor/leaflet/leaflet.js",
  "/static/img/icon-192.png", "/offline",
];
// Pages kept for offline use after each visit: home, the patrol pages and the voucher pages.
var KEEP = [
  /^\/$/, /^\/shop\/orders$/, /^\/shop\/orders\/\d+$/, /^\/shop\/orders\/\d+\/qr\.png$/,
  /^\/patrols$/, /^\/c\/\d+\/patrols$/, /^\/c\/\d+\/patrols\/track$/,
];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) { return cache.addAll(SHELL_FILES); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf(VERSION) !== 0; })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

// Signing out forgets the pages kept for this person.
// A page just opened asks to be kept (its first visit came before this worker was in charge).
self.addEventListener("message", function (event) {
  if (event.data === "forget-pages") { event.waitUntil(caches.delete(PAGES)); return; }
  var path = event.data && event.data.keep;
  if (typeof path !== "string" || !keep(path)) { return; }
  event.waitUntil(caches.open(PAGES).then(function (cache) {
    return cache.match(path).then(function (hit) {
      if (hit) { return null; }
      return fetch(path, { credentials: "same-origin" }).then(function (response) {
        if (response.ok && !response.redirected) { return cache.put(path, response); }
        return null;
      });
    });
  }).catch(function () { return null; }));
});

function keep(path) {
  return KEEP.some(function (re) { return re.test(path); });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname.indexOf("/static/") === 0) {
    // Static files: the exact URL from the phone when there (refreshed in the background); else the
    // network; with no network, any kept version of the file (a versioned URL's older version included).
    event.respondWith(caches.open(SHELL).then(function (cache) {
      return cache.match(request).then(function (hit) {
        var fresh = fetch(request).then(function (response) {
          if (response.ok) { cache.put(request, response.clone()); }
          return response;
        });
        if (hit) { fresh.catch(function () { return null; }); return hit; }
        return fresh.catch(function () {
          return cache.match(request, { ignoreSearch: true }).then(function (old) { return old || Response.error(); });
        });
      });
    }));
    return;
  }
  if (!keep(url.pathname) && request.mode !== "navigate") { return; }
  // Pages: the network first; without it the copy from the last visit, else the offline page.
  event.respondWith(fetch(request).then(function (response) {
    if (response.ok && !response.redirected && keep(url.pathname)) {
      var copy = response.clone();
      caches.open(PAGES).then(function (cache) { cache.put(request, copy); });
    }
    return response;
  }).catch(function () {
    return caches.open(PAGES).then(function (cache) { return cache.match(request); }).then(function (hit) {
      return hit || caches.match("/offline");
    });
  }));
});
