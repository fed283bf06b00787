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
    var text = source.tagName === "INPUT" || source.tagName === "TEXTAREA"
      ? source.value : source.textContent;
    copyText(text.trim()).then(
      function () {
        button.textContent = "Copied";
        button.setAttribute("aria-live", "polite");
        setTimeout(function () { button.textContent = label; }, 1800);
      },
      function () { button.textContent = "Select and copy"; }
    );
  });

  // A read-only field (the connector URL): one click selects all of it, ready to copy.
  document.querySelectorAll("[data-select-all]").forEach(function (field) {
    field.addEventListener("focus", function () { field.select(); });
    field.addEventListener("click", function () { field.select(); });
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
