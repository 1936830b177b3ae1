/* Small behaviour every page may use, kept out of the templates so the Content-Security-Policy
   allows no inline script: a button with data-copy="<input id>" copies that input's value. */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (input && navigator.clipboard) navigator.clipboard.writeText(input.value);
  });
})();
