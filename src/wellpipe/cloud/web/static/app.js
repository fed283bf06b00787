// Wellpipe Cloud dashboard: progressive enhancement only; every action works without it.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // http://127.0.0.1 during development: the older API still works there.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    try {
      document.execCommand("copy");
    } finally {
      document.body.removeChild(area);
    }
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var label = button.textContent;
    copyText(source.textContent.trim()).then(
      function () {
        button.textContent = "Copied";
        button.setAttribute("aria-live", "polite");
        setTimeout(function () { button.textContent = label; }, 1800);
      },
      function () { button.textContent = "Select and copy"; }
    );
  });

  // Delete account: the button only becomes active once the confirmation matches.
  document.querySelectorAll("[data-confirm-input]").forEach(function (input) {
    var form = input.form;
    var expected = input.getAttribute("data-confirm-input");
    var submit = form && form.querySelector("button[type=submit]");
    if (!submit) return;
    function sync() { submit.disabled = input.value.trim() !== expected; }
    input.addEventListener("input", sync);
    sync();
  });
})();
