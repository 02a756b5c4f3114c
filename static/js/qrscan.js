/*
 * CivicQR — scan QR codes from the phone's rear camera.
 *
 * Plain script, no build step. Load /static/vendor/jsqr/jsQR.js first
 * (fallback decoder for browsers without BarcodeDetector, e.g. iOS Safari).
 *
 *   CivicQR.start(videoEl, function (text) { ... }, {intervalMs: 150})
 *     .catch(function (err) { show "type the code instead"; err.code says why });
 *   CivicQR.stop();
 *   CivicQR.decodeImageData(imageData[, inversionAttempts]) -> string | null  (jsQR; for tests)
 *
 * Error codes: "insecure-context", "unsupported", "permission-denied",
 * "no-camera", "camera-busy", "camera-error".
 */
(function (global) {
  "use strict";

  var DEFAULTS = { intervalMs: 150, maxWidth: 640, repeatMs: 3000 };
  var session = null; // the one running scan, or null

  function scanError(code, message, cause) {
    var err = new Error(message);
    err.name = "CivicQRError";
    err.code = code;
    if (cause) err.cause = cause;
    return err;
  }

  // Map getUserMedia's DOMException names to something a caller can act on.
  function cameraError(e) {
    var name = e && e.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError")
      return scanError("permission-denied", "未获得摄像头权限，请手动输入编码", e);
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError")
      return scanError("no-camera", "未找到可用的摄像头，请手动输入编码", e);
    if (name === "NotReadableError" || name === "TrackStartError")
      return scanError("camera-busy", "摄像头被其他应用占用，请手动输入编码", e);
    return scanError("camera-error", "无法打开摄像头，请手动输入编码", e);
  }

  function decodeImageData(imageData, inversionAttempts) {
    if (typeof global.jsQR !== "function") throw scanError("unsupported", "jsQR 未加载");
    var hit = global.jsQR(imageData.data, imageData.width, imageData.height,
      { inversionAttempts: inversionAttempts || "attemptBoth" });
    return hit ? hit.data : null;
  }

  // Resolves to a BarcodeDetector for QR codes, or null if we must use jsQR.
  function makeDetector() {
    var BD = global.BarcodeDetector;
    if (!BD || typeof BD.getSupportedFormats !== "function") return Promise.resolve(null);
    return BD.getSupportedFormats().then(function (formats) {
      return formats.indexOf("qr_code") >= 0 ? new BD({ formats: ["qr_code"] }) : null;
    }, function () { return null; });
  }

  function stopSession(s) {
    s.stopped = true;
    clearTimeout(s.timer);
    if (s.stream) s.stream.getTracks().forEach(function (t) { t.stop(); });
    if (s.video && s.video.srcObject === s.stream) s.video.srcObject = null;
  }

  function stop() {
    if (session) stopSession(session);
    session = null;
  }

  // Draw the current frame (scaled down: decoding cost grows with pixel
  // count and 640 px is plenty for a QR code held near the camera) and
  // decode it. Resolves to the text or null.
  function grab(s) {
    var v = s.video, w = v.videoWidth, h = v.videoHeight;
    if (!w || !h || v.readyState < 2) return Promise.resolve(null);
    var scale = Math.min(1, s.opts.maxWidth / w);
    var cw = Math.round(w * scale), ch = Math.round(h * scale);
    if (s.canvas.width !== cw) s.canvas.width = cw;
    if (s.canvas.height !== ch) s.canvas.height = ch;
    s.ctx.drawImage(v, 0, 0, cw, ch);
    if (s.detector) {
      return s.detector.detect(s.canvas).then(function (codes) {
        return codes.length ? codes[0].rawValue : null;
      }, function () {
        // Some Android builds advertise qr_code but fail at detect(); fall back for good.
        s.detector = null;
        return null;
      });
    }
    // "dontInvert": live frames are dark-on-light codes; halves the jsQR work.
    return Promise.resolve(decodeImageData(s.ctx.getImageData(0, 0, cw, ch), "dontInvert"));
  }

  // setTimeout chain rather than setInterval so a slow decode never queues up.
  function tick(s) {
    if (s.stopped) return;
    var p = document.hidden ? Promise.resolve(null) : grab(s);
    p.then(function (text) {
      if (s.stopped || !text) return;
      var now = Date.now(), seen = s.seen, t;
      for (t in seen) if (now - seen[t] >= s.opts.repeatMs) delete seen[t];
      var repeat = Object.prototype.hasOwnProperty.call(seen, text);
      // Refresh on every sighting: a code held in view fires once, not every 3 s.
      seen[text] = now;
      if (!repeat) s.onCode(text);
    }).catch(function (e) {
      if (global.console) console.warn("CivicQR:", e);
    }).then(function () {
      if (!s.stopped) s.timer = setTimeout(function () { tick(s); }, s.opts.intervalMs);
    });
  }

  function start(video, onCode, options) {
    stop();
    var opts = {}, k;
    for (k in DEFAULTS) opts[k] = (options && options[k]) || DEFAULTS[k];
    var md = global.navigator && global.navigator.mediaDevices;
    if (!md || typeof md.getUserMedia !== "function") {
      // mediaDevices is undefined on plain http:// (except localhost).
      return Promise.reject(global.isSecureContext === false
        ? scanError("insecure-context", "扫码需要 HTTPS 连接，请手动输入编码")
        : scanError("unsupported", "此浏览器不支持摄像头扫码，请手动输入编码"));
    }
    var canvas = document.createElement("canvas");
    var s = session = {
      video: video, onCode: onCode, opts: opts, stopped: false, stream: null,
      canvas: canvas, seen: {}, // code text -> last time seen (ms)
      // willReadFrequently keeps the canvas on the CPU, so getImageData is cheap.
      ctx: canvas.getContext("2d", { willReadFrequently: true })
    };
    return makeDetector().then(function (detector) {
      if (!detector && typeof global.jsQR !== "function")
        throw scanError("unsupported", "扫码组件未加载，请手动输入编码");
      s.detector = detector;
      return md.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .catch(function (e) { throw cameraError(e); });
    }).then(function (stream) {
      s.stream = stream;
      if (s.stopped) { stopSession(s); return; } // stop() was called while we waited
      // iOS Safari plays inline (not fullscreen) only with these set.
      video.setAttribute("playsinline", "");
      video.muted = true;
      video.srcObject = stream;
      return Promise.resolve(video.play()).then(function () { tick(s); }, function (e) {
        throw scanError("camera-error", "无法播放摄像头画面，请手动输入编码", e);
      });
    }).catch(function (e) {
      if (session === s) stop();
      throw e;
    });
  }

  global.CivicQR = { start: start, stop: stop, decodeImageData: decodeImageData };
})(window);
