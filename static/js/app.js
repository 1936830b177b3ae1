/* Small behaviour every page may use, kept out of the templates so the Content-Security-Policy
   allows no inline script: a button with data-copy="<input id>" copies that input's value, and the
   step forms' rows (templates/steps/_headers.html, _rows.html) are added and removed in the page,
   in the Flow Builder and the workflow editor alike. */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (input && navigator.clipboard) navigator.clipboard.writeText(input.value);
  });

  // A row set ([data-rows-set]) holds its rows ([data-rows], whose data-next-index is an index no
  // row uses yet) and a <template> of a new row, its index written "__i__". The server reads rows
  // in index order and does not mind gaps, so a removed row leaves one.
  document.addEventListener("click", function (event) {
    var target = event.target;
    var add = target.closest && target.closest("[data-add-row]");
    if (add) {
      var set = add.closest("[data-rows-set]");
      var template = set && set.querySelector("template[data-row-template]");
      var body = set && set.querySelector("[data-rows]");
      if (!template || !body) return;
      event.preventDefault();
      var index = parseInt(body.getAttribute("data-next-index") || "0", 10);
      body.setAttribute("data-next-index", String(index + 1));
      var holder = document.createElement(body.tagName);
      holder.innerHTML = template.innerHTML.replace(/__i__/g, String(index));
      var row = holder.firstElementChild;
      body.appendChild(row);
      var input = row.querySelector("input:not([type=hidden]), select");
      if (input) input.focus();
      return;
    }
    var remove = target.closest && target.closest("[data-remove-row]");
    if (remove) {
      event.preventDefault();
      var item = remove.closest("[data-row]");
      if (item) item.remove();
    }
  });
})();
