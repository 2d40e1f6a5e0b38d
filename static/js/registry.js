// Registry pages: the "try a prediction" form, which posts
// the rows to the prediction API with the page's session and CSRF token. A file, not inline: the CSP forbids those.
(function () {
  "use strict";

  document.querySelectorAll(".js-predict").forEach(function (card) {
    var button = card.querySelector(".js-predict-button");
    var input = card.querySelector(".js-instances");
    var result = card.querySelector(".js-predict-result");
    var error = card.querySelector(".js-predict-error");
    var token = card.querySelector("input[name=csrfmiddlewaretoken]").value;

    button.addEventListener("click", function () {
      var instances;
      error.textContent = "";
      result.textContent = "";
      try {
        instances = JSON.parse(input.value);
      } catch (exc) {
        error.textContent = "Not valid JSON: " + exc.message;
        return;
      }
      button.disabled = true;
      fetch(card.dataset.apiUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token },
        body: JSON.stringify({ instances: instances })
      })
        .then(function (response) {
          return response.json().then(function (body) {
            return { ok: response.ok, status: response.status, body: body };
          });
        })
        .then(function (answer) {
          if (answer.ok) {
            result.textContent = JSON.stringify(answer.body, null, 2);
          } else {
            var body = answer.body || {};
            var detail = body.detail || (body.instances && body.instances.join(" ")) || JSON.stringify(body);
            error.textContent = "HTTP " + answer.status + ": " + detail;
          }
        })
        .catch(function (exc) {
          error.textContent = "The request failed: " + exc.message;
        })
        .finally(function () {
          button.disabled = false;
        });
    });
  });
})();
