// Passbook and honour roll: print button, full screen, and auto-refresh of the big screen.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) {
      window.print();
    }
    if (event.target.closest("[data-fullscreen]")) {
      var root = document.documentElement;
      if (document.fullscreenElement) {
        document.exitFullscreen();
      } else if (root.requestFullscreen) {
        root.requestFullscreen().catch(function () { /* the browser refused; nothing to do */ });
      }
    }
  });
  // The honour roll reloads itself so a big screen stays current (it keeps full screen in kiosk mode).
  var seconds = parseInt(document.body.getAttribute("data-refresh-seconds") || "0", 10);
  if (seconds > 0) {
    document.body.setAttribute("data-refresh-armed", "1");
    setInterval(function () {
      if (navigator.onLine === false) { return; }
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.querySelector("main.hr-grid");
          var head = doc.querySelector(".hr-head p");
          if (fresh) { document.querySelector("main.hr-grid").replaceWith(fresh); }
          if (head) { document.querySelector(".hr-head p").textContent = head.textContent; }
        })
        .catch(function () { /* offline for a moment: try again next time */ });
    }, seconds * 1000);
  }
})();
