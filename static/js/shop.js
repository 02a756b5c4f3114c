// Points shop counter: scan a voucher's QR code with the camera (CivicQR), fill the code and check it.
// Without a camera (or permission) the shopkeeper types the code; the page works without this script.
(function () {
  "use strict";
  var button = document.getElementById("shop-scan-button");
  var form = document.getElementById("shop-code-form");
  if (!button || !form || !window.CivicQR) return;
  var video = document.getElementById("shop-video");
  var box = video.parentNode;
  var errorBox = document.getElementById("shop-scan-error");
  var startLabel = button.textContent;
  var running = false;

  function stop() {
    window.CivicQR.stop();
    running = false;
    box.hidden = true;
    button.textContent = startLabel;
  }

  button.addEventListener("click", function () {
    if (running) { stop(); return; }
    errorBox.hidden = true;
    box.hidden = false;
    running = true;
    button.textContent = button.getAttribute("data-stop");
    window.CivicQR.start(video, function (text) {
      stop();
      form.elements.code.value = text;
      form.submit();
    }).catch(function (err) {
      stop();
      errorBox.textContent = err.message;
      errorBox.hidden = false;
      form.elements.code.focus();
    });
  });
})();
