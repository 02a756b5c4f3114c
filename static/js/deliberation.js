// Deliberation (议事): the organiser's rotating check-in code, camera scanning, name filter, print.
// Every page works without this script; it only makes them live.
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }

  function post(url, csrf, body) {
    return window.civic.postJSON(url, body, csrf).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { ok: r.ok, data: data }; });
    });
  }

  // The organiser's screen: poll the code and the counts every 3 seconds.
  var screen = $("delib-screen");
  if (screen) {
    var img = $("delib-qr"), box = screen.querySelector(".delib-qr"), closed = $("delib-closed");
    var expected = screen.querySelector("[data-testid=expected]"), present = screen.querySelector("[data-testid=present]");
    var recent = $("delib-recent"), refresh = $("delib-refresh");
    var refresh_in = 0;
    var update = function (d) {
      expected.textContent = d.expected;
      present.textContent = d.present;
      if (d.open) {
        if (img.getAttribute("data-token") !== d.token) {
          img.src = d.png;
          img.setAttribute("data-token", d.token);
          img.setAttribute("data-url", d.url);
        }
        box.hidden = false; closed.hidden = true;
        refresh_in = Math.ceil(d.refresh_in);
      } else {
        box.hidden = true; closed.hidden = false; closed.textContent = d.message;
      }
      if (recent && d.recent) {
        recent.innerHTML = "";
        d.recent.forEach(function (name) {
          var li = document.createElement("li");
          li.className = "list-item";
          li.textContent = name;
          recent.appendChild(li);
        });
      }
    };
    var poll = function () {
      fetch(screen.getAttribute("data-code-url"), { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) { if (d) update(d); })
        .catch(function () { /* keep the last code; try again */ })
        .then(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 3000);
    setInterval(function () {
      if (refresh && refresh_in > 0) { refresh_in -= 1; refresh.textContent = "(" + refresh_in + "s)"; }
    }, 1000);

    // Scan a resident's personal card with this device's camera.
    var scanCard = $("delib-scan-card"), video = $("delib-video"), result = $("delib-card-result");
    if (scanCard && window.CivicQR) {
      scanCard.addEventListener("click", function () {
        video.hidden = false;
        window.CivicQR.start(video, function (text) {
          post(screen.getAttribute("data-card-url"), screen.getAttribute("data-csrf"), { card_token: text })
            .then(function (res) {
              result.textContent = res.ok ? (res.data.name + "：" + res.data.message) : res.data.message;
              if (res.ok) { present.textContent = res.data.present; }
            });
        }).catch(function (err) { result.textContent = err.message; video.hidden = true; });
      });
    }
  }

  // The resident's in-app scanner.
  var scan = $("delib-scan");
  if (scan) {
    var start = $("delib-scan-start"), out = $("delib-scan-result"), cam = $("delib-video");
    start.addEventListener("click", function () {
      window.CivicQR.start(cam, function (text) {
        out.textContent = "…";
        post(scan.getAttribute("data-checkin-url"), scan.getAttribute("data-csrf"), { token: text })
          .then(function (res) {
            out.textContent = res.data.message || "";
            if (res.ok) { window.CivicQR.stop(); }
          });
      }).then(function () { start.hidden = true; }, function (err) { out.textContent = err.message; });
    });
  }

  // Filter the attendance list by name.
  var filter = $("delib-filter"), names = $("delib-names");
  if (filter && names) {
    filter.addEventListener("input", function () {
      var q = filter.value.trim();
      Array.prototype.forEach.call(names.children, function (li) {
        var name = li.getAttribute("data-name") || "";
        li.hidden = q !== "" && name.indexOf(q) < 0;
      });
    });
  }

  // Print buttons.
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
})();
