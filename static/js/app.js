// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  // The one way page scripts send JSON to the site: same-origin cookies and the page's CSRF token
  // (from an element with data-csrf unless given). Resolves to the fetch Response.
  window.civic = {
    csrfToken: function () {
      var el = document.querySelector("[data-csrf]");
      return el ? el.getAttribute("data-csrf") : "";
    },
    postJSON: function (url, body, csrf) {
      var headers = { "Content-Type": "application/json", "Accept": "application/json" };
      var token = csrf || window.civic.csrfToken();
      if (token) { headers["X-CSRFToken"] = token; }
      return fetch(url, { method: "POST", credentials: "same-origin", headers: headers, body: JSON.stringify(body) });
    }
  };
  // Ask before destructive actions: <button data-confirm="...">.
  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-confirm]");
    if (target && !window.confirm(target.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
  // Stop double taps from submitting a form twice.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.submitted) { event.preventDefault(); return; }
    form.dataset.submitted = "1";
    setTimeout(function () { delete form.dataset.submitted; }, 4000);
  });
  // Offline: the service worker keeps the app shell, the patrol page and open vouchers on the phone.
  var me = document.currentScript;
  if ("serviceWorker" in navigator && me && me.getAttribute("data-sw")) {
    navigator.serviceWorker.register(me.getAttribute("data-sw"), { scope: "/" }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (registration) {
      registration.active.postMessage({ keep: location.pathname });
    }).catch(function () { /* no service worker: the site still works online */ });
    // Signing out forgets the pages kept for this person.
    document.addEventListener("submit", function (event) {
      if (event.target.getAttribute("action") === me.getAttribute("data-logout") && navigator.serviceWorker.controller) {
        navigator.serviceWorker.controller.postMessage("forget-pages");
      }
    });
  }
})();
