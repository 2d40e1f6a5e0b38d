// AutoML pages: the job page follows its job through the API while it is queued or running; the
// "new job" form offers the chosen dataset's columns as targets. A file, not inline: the CSP forbids those.
(function () {
  "use strict";

  var POLL_MS = 2000;

  function followJob(card) {
    var status = card.querySelector(".js-status");
    var progress = card.querySelector(".js-progress");
    var progressText = card.querySelector(".js-progress-text");
    var best = card.querySelector(".js-best");
    var error = card.querySelector(".js-error");
    var cancel = card.querySelector(".js-cancel");

    function show(job) {
      status.textContent = job.status;
      status.className = "status js-status " + job.status;
      progress.value = job.progress;
      progressText.textContent = Math.round(job.progress * 100) + " %";
      if (job.current_best && job.current_best.model) {
        var score = job.current_best.score === null ? "" : " (validation score " + job.current_best.score.toFixed(4) + ")";
        best.textContent = "Best so far: " + job.current_best.model + score;
      }
      error.textContent = job.error || "";
      if (cancel && job.cancel_requested_at) {
        cancel.hidden = true;
      }
    }

    function poll() {
      fetch(card.dataset.apiUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (job) {
          show(job);
          if (job.status === "queued" || job.status === "running") {
            window.setTimeout(poll, POLL_MS);
          } else {
            window.location.reload(); // the finished page shows the leaderboard and history
          }
        })
        .catch(function () {
          window.setTimeout(poll, POLL_MS * 3);
        });
    }

    window.setTimeout(poll, POLL_MS);
  }

  document.querySelectorAll(".js-job").forEach(function (card) {
    if (card.dataset.active === "true") {
      followJob(card);
    }
  });

  var columnsScript = document.getElementById("dataset-columns");
  var form = document.querySelector("form.js-new-job");
  if (columnsScript && form) {
    var columns = JSON.parse(columnsScript.textContent);
    var datasetSelect = form.querySelector("select[name=dataset]");
    var list = document.getElementById("target-columns");
    var fill = function () {
      list.replaceChildren();
      (columns[datasetSelect.value] || []).forEach(function (name) {
        var option = document.createElement("option");
        option.value = name;
        list.appendChild(option);
      });
    };
    datasetSelect.addEventListener("change", fill);
    fill();
  }
})();
