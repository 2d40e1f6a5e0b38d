// The version page's "explain one row": posts the row to local SHAP and to LIME at once (the page's
// session and CSRF token), shows a spinner until both answer, then the waterfall and LIME plots side by
// side, or what went wrong in words. A file, not inline: the CSP forbids inline script.
(function () {
  "use strict";

  var POLL_MS = 1500;

  function describe(status, body) {
    body = body || {};
    if (body.detail) {
      return body.detail;
    }
    var parts = [];
    Object.keys(body).forEach(function (field) {
      var value = body[field];
      parts.push((field === "non_field_errors" ? "" : field + ": ") + (Array.isArray(value) ? value.join(" ") : value));
    });
    return parts.join(" ") || "HTTP " + status;
  }

  function call(url, token, payload) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token },
      body: JSON.stringify(payload)
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          throw new Error(describe(response.status, body));
        }
        return response.status === 202 ? poll(body.id) : body;
      });
    });
  }

  function poll(id) {
    return new Promise(function (resolve, reject) {
      function again() {
        fetch("/api/v1/explain/" + id, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (response) { return response.json(); })
          .then(function (body) {
            if (body.status === "succeeded") {
              resolve(body);
            } else if (body.status === "failed") {
              reject(new Error(body.error || "The explanation failed."));
            } else {
              window.setTimeout(again, POLL_MS);
            }
          })
          .catch(reject);
      }
      again();
    });
  }

  document.querySelectorAll(".js-explain").forEach(function (panel) {
    var button = panel.querySelector(".js-explain-button");
    var input = panel.querySelector(".js-explain-row");
    var spinner = panel.querySelector(".js-explain-spinner");
    var error = panel.querySelector(".js-explain-error");
    var shapFigure = panel.querySelector(".js-explain-shap");
    var limeFigure = panel.querySelector(".js-explain-lime");
    var token = panel.querySelector("input[name=csrfmiddlewaretoken]").value;
    var modelId = Number(panel.dataset.modelId);

    button.addEventListener("click", function () {
      var rows;
      error.textContent = "";
      try {
        rows = JSON.parse(input.value);
      } catch (exc) {
        error.textContent = "That is not valid JSON: " + exc.message;
        return;
      }
      if (!Array.isArray(rows)) {
        rows = [rows];
      }
      button.disabled = true;
      spinner.hidden = false;
      shapFigure.hidden = true;
      limeFigure.hidden = true;
      var shap = call("/api/v1/explain/shap", token, { model_id: modelId, explanation_type: "local", instance_data: rows });
      var lime = call("/api/v1/explain/lime", token, { model_id: modelId, instance_data: rows });
      Promise.all([shap, lime])
        .then(function (answers) {
          var shapBody = answers[0];
          var limeBody = answers[1];
          var row = shapBody.rows[0];
          shapFigure.querySelector("img").src = shapBody.plot_urls.waterfall;
          shapFigure.querySelector("figcaption").textContent =
            "SHAP (" + shapBody.produced_by.explainer + "): " + row.output_name + " = " + row.output.toFixed(4) +
            ", base value " + row.base_value.toFixed(4);
          limeFigure.querySelector("img").src = limeBody.plot_url;
          limeFigure.querySelector("figcaption").textContent =
            "LIME (" + limeBody.produced_by.num_samples + " samples, seed " + limeBody.produced_by.random_state +
            "): prediction " + limeBody.prediction;
          shapFigure.hidden = false;
          limeFigure.hidden = false;
        })
        .catch(function (exc) {
          error.textContent = "The row could not be explained: " + exc.message;
        })
        .finally(function () {
          button.disabled = false;
          spinner.hidden = true;
        });
    });
  });
})();
