// Project and dataset pages: upload feedback (confirmations are site.js's).
// Loaded as a file (the Content-Security-Policy forbids inline scripts).
(function () {
  "use strict";

  function formatBytes(bytes) {
    var units = ["bytes", "KB", "MB", "GB"];
    var value = bytes;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? value : value.toFixed(1)) + " " + units[unit];
  }

  document.querySelectorAll("form.js-upload").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    var error = form.querySelector(".js-upload-error");
    var button = form.querySelector("button[type=submit]");
    var maxBytes = parseInt(form.dataset.maxBytes, 10);

    function showError(message) {
      error.textContent = message;
      error.hidden = !message;
    }

    form.addEventListener("submit", function (event) {
      var file = input && input.files && input.files[0];
      if (!file) {
        showError("Choose a file to upload.");
        event.preventDefault();
        return;
      }
      if (maxBytes && file.size > maxBytes) {
        showError(file.name + " is " + formatBytes(file.size) + "; the limit is " + formatBytes(maxBytes) + ".");
        event.preventDefault();
        return;
      }
      showError("");
      button.disabled = true;
      button.textContent = "Uploading " + formatBytes(file.size) + "…";
    });
  });
})();
