// Patrols: maps (Leaflet, plain background without tiles), the route editor, live tracking with
// an offline queue in localStorage, and the report form's location. No inline scripts (CSP).
(function () {
  "use strict";

  var QUEUE_PREFIX = "civic-patrol-queue-";
  var BATCH = 50;

  // --- maps ---------------------------------------------------------------------------------------
  function parse(el, name) {
    var raw = el.getAttribute(name);
    if (!raw) { return null; }
    try { return JSON.parse(raw); } catch (e) { return null; }
  }

  // The community's own geography, drawn under the track when there is no tile service (or over the tiles):
  // its area (a boundary, or a centre and radius) and its patrol routes. Returns the points to fit.
  function drawGeography(map, geo) {
    var pts = [];
    if (!geo) { return pts; }
    var area = geo.area;
    if (area && area.boundary && area.boundary.length > 2) {
      L.polygon(area.boundary, { color: "#6b8e23", weight: 2, fillColor: "#dfe8c8", fillOpacity: 0.35, interactive: false }).addTo(map);
      pts = pts.concat(area.boundary);
    } else if (area && area.centre && area.radius_m) {
      var circle = L.circle(area.centre, { radius: area.radius_m, color: "#6b8e23", weight: 2, fillColor: "#dfe8c8",
        fillOpacity: 0.35, interactive: false }).addTo(map);
      var b = circle.getBounds();
      pts.push([b.getSouth(), b.getWest()], [b.getNorth(), b.getEast()]);
    }
    (geo.routes || []).forEach(function (r) {
      if (!r.points || r.points.length < 2) { return; }
      var style = { color: "#8a8170", weight: 3, opacity: 0.8, interactive: false };
      (r.area ? L.polygon(r.points, style) : L.polyline(r.points, style)).addTo(map);
      pts = pts.concat(r.points);
    });
    return pts;
  }

  function makeMap(el) {
    if (!window.L) { return null; }
    var map = L.map(el, { zoomControl: true, attributionControl: false });
    var tiles = el.getAttribute("data-tiles");
    if (tiles) {
      var credit = el.getAttribute("data-tiles-attribution");
      L.tileLayer(tiles, { maxZoom: 19, subdomains: tiles.indexOf("{s}") >= 0 && tiles.indexOf("tianditu") >= 0 ? "01234567" : "abc" }).addTo(map);
      if (credit) { L.control.attribution({ prefix: false }).addAttribution(credit).addTo(map); }
    } else {
      el.classList.add("patrol-map-plain");
    }
    L.control.scale({ metric: true, imperial: false, maxWidth: 120 }).addTo(map);
    map.setView([36.6683, 117.0204], 15);
    var geoPoints = drawGeography(map, parse(el, "data-geo"));
    var bounds = [];
    var route = parse(el, "data-route");
    if (route && route.length) {
      var shape = el.getAttribute("data-area") ? L.polygon(route, { color: "#2f6fb3", weight: 4, dashArray: "8 6" })
        : L.polyline(route, { color: "#2f6fb3", weight: 4, dashArray: "8 6" });
      shape.addTo(map);
      bounds = bounds.concat(route);
    }
    var track = parse(el, "data-track");
    var line = L.polyline(track || [], { color: "#c0392b", weight: 5 }).addTo(map);
    if (track && track.length) {
      bounds = bounds.concat(track);
      if (track.length === 1) { L.circleMarker(track[0], { radius: 8, color: "#c0392b" }).addTo(map); }
    }
    // places to mark (the command view's open problems): a dot each, red when overdue, a link to the problem
    (parse(el, "data-marks") || []).forEach(function (m) {
      var red = !!m.overdue;
      var dot = L.circleMarker([m.lat, m.lon], { radius: red ? 9 : 7, color: red ? "#c0392b" : "#2f6fb3", weight: 2,
        fillColor: red ? "#e74c3c" : "#5b9bd5", fillOpacity: 0.85, className: red ? "map-mark map-mark-red" : "map-mark" })
        .addTo(map);
      var label = document.createElement("span");
      label.textContent = m.label || "";  // text, never HTML: names are typed by people
      dot.bindTooltip(label);
      if (m.href) { dot.on("click", function () { window.location.href = m.href; }); }
      bounds.push([m.lat, m.lon]);
    });
    if (!bounds.length) { bounds = geoPoints; }  // nothing walked yet: show the community
    if (bounds.length > 1) { map.fitBounds(bounds, { padding: [20, 20], maxZoom: 18 }); }
    else if (bounds.length === 1) { map.setView(bounds[0], 17); }
    el._patrol = { map: map, line: line, route: route || [] };
    return el._patrol;
  }

  function initMaps() {
    var els = document.querySelectorAll(".patrol-map");
    for (var i = 0; i < els.length; i++) { makeMap(els[i]); }
  }

  // --- route editor -------------------------------------------------------------------------------
  function initRouteEditor() {
    var form = document.querySelector("[data-route-editor]");
    if (!form) { return; }
    var el = form.querySelector(".patrol-map");
    var state = el && el._patrol;
    var input = form.querySelector("input[name=waypoints]");
    var count = form.querySelector("[data-point-count]");
    if (!state || !input) { return; }
    var points = [];
    var editLine = L.polyline([], { color: "#2f6fb3", weight: 4 }).addTo(state.map);
    function redraw() {
      editLine.setLatLngs(points);
      input.value = JSON.stringify(points);
      if (count) { count.textContent = String(points.length); }
    }
    state.map.on("click", function (e) {
      points.push([Math.round(e.latlng.lat * 1e7) / 1e7, Math.round(e.latlng.lng * 1e7) / 1e7]);
      redraw();
    });
    var undo = form.querySelector("[data-undo-point]");
    if (undo) { undo.addEventListener("click", function () { points.pop(); redraw(); }); }
    if (navigator.geolocation) {
      navigator.geolocation.getCurrentPosition(function (p) {
        if (!points.length) { state.map.setView([p.coords.latitude, p.coords.longitude], 17); }
      }, function () {}, { enableHighAccuracy: false, timeout: 10000, maximumAge: 600000 });
    }
  }

  // --- the offline queue (kept per patrol in localStorage) ----------------------------------------
  function loadQueue(key) {
    try {
      var q = JSON.parse(localStorage.getItem(key) || "null");
      if (q && q.points) { return q; }
    } catch (e) { /* a broken entry is replaced */ }
    return null;
  }

  function saveQueue(key, q) {
    try { localStorage.setItem(key, JSON.stringify(q)); } catch (e) { /* storage full: keep in memory */ }
  }

  var sending = {};

  // Send the queue under `key` in batches of 50; resolves true when it is empty.
  function flushQueue(key, onChange) {
    if (sending[key]) { return sending[key]; }
    var q = loadQueue(key);
    if (!q || !q.points.length) { return Promise.resolve(true); }
    var batch = q.points.slice(0, BATCH);
    sending[key] = window.civic.postJSON(q.url, { points: batch }, q.csrf).then(function (response) {
      var sent = {};
      batch.forEach(function (p) { sent[p.id] = true; });
      if (response.ok || response.status === 409 || response.status === 422 || response.status === 404) {
        // Done, or refused for good (reviewed, malformed, gone): drop the batch either way.
        var body = response.ok ? response.json().catch(function () { return null; }) : Promise.resolve(null);
        return body.then(function (summary) {
          var current = loadQueue(key) || q;
          current.points = current.points.filter(function (p) { return !sent[p.id]; });
          if (current.points.length) { saveQueue(key, current); } else { localStorage.removeItem(key); }
          if (onChange) { onChange(current.points.length, summary); }
          return current.points.length === 0;
        });
      }
      return false;  // 5xx, 401, 403, 429: keep and retry later
    }).catch(function () {
      return false;  // offline: keep everything
    }).then(function (empty) {
      delete sending[key];
      return empty;
    });
    return sending[key];
  }

  function drain(key, onChange) {
    // Keep sending batches while they succeed; stop at the first failure. Resolves true when empty.
    var q = loadQueue(key);
    var before = q ? q.points.length : 0;
    if (!before) { return Promise.resolve(true); }
    return flushQueue(key, onChange).then(function (empty) {
      var after = loadQueue(key);
      var left = after ? after.points.length : 0;
      if (empty || left === 0) { return true; }
      return left < before ? drain(key, onChange) : false;
    });
  }

  // Points of earlier patrols still waiting (the page was closed while offline).
  function flushLeftovers(exceptKey) {
    for (var i = 0; i < localStorage.length; i++) {
      var key = localStorage.key(i);
      if (key && key.indexOf(QUEUE_PREFIX) === 0 && key !== exceptKey) { drain(key); }
    }
  }

  // --- live tracking ------------------------------------------------------------------------------
  // The distance shown is the server's answer to each batch, measured by the same engine as the saved
  // patrol, so the figure never shrinks when the patrol ends; offline it stays at the last answer.
  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function initLive() {
    var box = document.getElementById("patrol-live");
    if (!box) { return; }
    var patrolId = box.getAttribute("data-patrol-id");
    var key = QUEUE_PREFIX + patrolId;
    var url = box.getAttribute("data-points-url");
    var startedMs = parseInt(box.getAttribute("data-started-ms"), 10) || Date.now();
    var el = {
      distance: box.querySelector("[data-live-distance]"), time: box.querySelector("[data-live-time]"),
      count: box.querySelector("[data-live-count]"), pending: box.querySelector("[data-live-pending]"),
      status: box.querySelector("[data-live-status]")
    };
    var mapState = (box.querySelector(".patrol-map") || {})._patrol;
    var countKey = "civic-patrol-count-" + patrolId;
    var seqKey = "civic-patrol-seq-" + patrolId;
    var tagKey = "civic-patrol-tag-" + patrolId;
    var tag = localStorage.getItem(tagKey);
    if (!tag) {
      tag = Math.random().toString(36).slice(2, 10);
      localStorage.setItem(tagKey, tag);
    }
    var seq = parseInt(localStorage.getItem(seqKey) || "0", 10);
    var recorded = Math.max(parseInt(localStorage.getItem(countKey) || "0", 10),
      parseInt(box.getAttribute("data-stored") || "0", 10));
    var distance = parseFloat(box.getAttribute("data-distance") || "0") || 0, last = null;

    function setStatus(name) { if (el.status) { el.status.textContent = box.getAttribute("data-msg-" + name) || ""; } }
    function showPending() {
      var q = loadQueue(key);
      el.pending.textContent = String(q ? q.points.length : 0);
    }
    function render() {
      el.distance.textContent = (distance / 1000).toFixed(2);
      el.count.textContent = String(recorded);
      showPending();
    }
    setInterval(function () {
      var s = Math.max(0, Math.floor((Date.now() - startedMs) / 1000));
      el.time.textContent = (s >= 3600 ? Math.floor(s / 3600) + ":" : "") + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
    }, 1000);

    function onChange(left, summary) {
      if (summary && typeof summary.distance_m === "number") { distance = summary.distance_m; render(); }
      showPending();
    }
    function send() {
      if (!navigator.onLine) { setStatus("offline"); return; }
      drain(key, onChange).then(function (empty) { setStatus(navigator.onLine ? "online" : "offline"); showPending(); });
    }

    function onPosition(pos) {
      var c = pos.coords;
      var t = (pos.timestamp || Date.now()) / 1000;
      if (last && last.lat === c.latitude && last.lon === c.longitude && last.accuracy === c.accuracy && t - last.t < 5) {
        return;  // the same fix delivered twice
      }
      seq += 1;
      localStorage.setItem(seqKey, String(seq));
      var point = { id: tag + "-" + seq, t: t, lat: c.latitude, lon: c.longitude,
        accuracy: typeof c.accuracy === "number" ? Math.round(c.accuracy * 10) / 10 : null };
      last = point;
      var q = loadQueue(key) || { url: url, csrf: window.civic.csrfToken(), points: [] };
      q.points.push(point);
      saveQueue(key, q);
      recorded += 1;
      localStorage.setItem(countKey, String(recorded));
      var here = [c.latitude, c.longitude];
      if (mapState) {
        mapState.line.addLatLng(here);
        // Keep the whole walk in view: fit to the track, not a fixed default zoom.
        if (mapState.line.getLatLngs().length > 1) {
          mapState.map.fitBounds(mapState.line.getBounds(), { padding: [24, 24], maxZoom: 18, animate: false });
        } else {
          mapState.map.setView(here, 17, { animate: false });
        }
      }
      render();
      setStatus(navigator.onLine ? "online" : "offline");
      if (q.points.length >= 10) { send(); }
    }

    function onError(err) {
      setStatus(err && err.code === 1 ? "nogps" : "waiting");
    }

    var watchId = null;
    if (navigator.geolocation) {
      watchId = navigator.geolocation.watchPosition(onPosition, onError,
        { enableHighAccuracy: true, maximumAge: 0, timeout: 30000 });
    } else {
      setStatus("nogps");
    }

    // Keep the screen on while patrolling, where the browser allows it.
    var wakeLock = null;
    function lockScreen() {
      if (navigator.wakeLock && document.visibilityState === "visible") {
        navigator.wakeLock.request("screen").then(function (l) { wakeLock = l; }).catch(function () {});
      }
    }
    lockScreen();
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") { lockScreen(); send(); }
    });

    window.addEventListener("online", function () { setStatus("online"); send(); });
    window.addEventListener("offline", function () { setStatus("offline"); });
    setInterval(send, 5000);
    render();
    send();

    var endForm = document.querySelector("[data-end-form]");
    if (endForm) {
      endForm.addEventListener("submit", function (event) {
        event.preventDefault();
        if (endForm.dataset.ending) { return; }
        endForm.dataset.ending = "1";
        setStatus("sending");
        if (watchId !== null) { navigator.geolocation.clearWatch(watchId); }
        if (wakeLock) { wakeLock.release().catch(function () {}); }
        drain(key, onChange).then(function (empty) {
          if (!empty) {
            // Still offline: the points stay on the phone and are sent on the next visit.
            setStatus("offline");
          }
          localStorage.removeItem(seqKey);
          localStorage.removeItem(countKey);
          if (empty) { localStorage.removeItem(tagKey); }
          HTMLFormElement.prototype.submit.call(endForm);
        });
      });
    }
    flushLeftovers(key);
  }

  // --- report form: the phone's location ----------------------------------------------------------
  function initReportForm() {
    var form = document.querySelector("[data-report-form]");
    if (!form) { return; }
    var lat = form.querySelector("[data-lat]"), lon = form.querySelector("[data-lon]");
    var status = form.querySelector("[data-location-status]");
    if (lat.value && lon.value) { status.textContent = form.getAttribute("data-msg-located"); return; }
    if (!navigator.geolocation) { status.textContent = form.getAttribute("data-msg-nolocation"); return; }
    navigator.geolocation.getCurrentPosition(function (p) {
      lat.value = p.coords.latitude.toFixed(7);
      lon.value = p.coords.longitude.toFixed(7);
      status.textContent = form.getAttribute("data-msg-located");
    }, function () {
      status.textContent = form.getAttribute("data-msg-nolocation");
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  function start() {
    initMaps();
    initRouteEditor();
    initLive();
    initReportForm();
    if (!document.getElementById("patrol-live")) { try { flushLeftovers(null); } catch (e) { /* no storage */ } }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
