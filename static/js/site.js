// Every page: a form marked data-confirm (deletes, cancels, deploys, rejections) asks before it is sent.
// A file, not inline: the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });

  // A table or block wider than the screen scrolls sideways; make it reachable with the keyboard (Tab, then
  // the arrow keys) while it overflows.
  function focusableWhenScrolling() {
    document.querySelectorAll("main table, main .scroll, main pre").forEach(function (element) {
      if (element.scrollWidth > element.clientWidth + 1) {
        element.setAttribute("tabindex", "0");
      } else if (element.getAttribute("tabindex") === "0") {
        element.removeAttribute("tabindex");
      }
    });
  }
  focusableWhenScrolling();
  window.addEventListener("resize", focusableWhenScrolling);
  window.addEventListener("load", focusableWhenScrolling);

  // Sortable tables: a button in each header cell sorts the rows by that column (numbers as numbers).
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var body = table.tBodies[0];
    table.querySelectorAll("thead th").forEach(function (th, column) {
      var button = th.querySelector("button.sort");
      if (!button) {
        return;
      }
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach(function (other) {
          other.removeAttribute("aria-sort");
        });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column].dataset.value || a.cells[column].textContent.trim();
          var y = b.cells[column].dataset.value || b.cells[column].textContent.trim();
          var nx = parseFloat(x);
          var ny = parseFloat(y);
          var order = !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y);
          return ascending ? order : -order;
        });
        rows.forEach(function (row) {
          body.appendChild(row);
        });
      });
    });
  });
})();
