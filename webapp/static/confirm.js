/* Forms that change something a person should be sure of ("Verified today") carry
   data-confirm="the question"; the form is only sent once they say yes. A static
   script, not an inline handler: the Content-Security-Policy allows no inline script. */
"use strict";

(function () {
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) { return; }
    if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
  });
})();
