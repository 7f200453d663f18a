/* Upscaler: behaviour shared by every page. No framework, no build step.
 *
 * - Upscaler.announce(text): say something to screen readers through the page's live region.
 * - Upscaler.csrfToken(): the CSRF token for requests the scripts send.
 * - <form data-confirm="Question?">: asks before submitting (deletes, revokes).
 * - <button data-copy-target="id">: copies the value of the element with that id.
 */
(function () {
  "use strict";

  const Upscaler = (window.Upscaler = window.Upscaler || {});

  Upscaler.announce = function (text) {
    const region = document.getElementById("announcer");
    if (!region) return;
    // Replacing the text node makes screen readers announce it even when it repeats.
    region.textContent = "";
    window.setTimeout(function () {
      region.textContent = text;
    }, 30);
  };

  Upscaler.csrfToken = function () {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  };

  Upscaler.humanSize = function (bytes) {
    const units = ["B", "KB", "MB", "GB"];
    let size = bytes;
    let unit = 0;
    while (size >= 1024 && unit < units.length - 1) {
      size /= 1024;
      unit += 1;
    }
    return unit === 0 ? size + " B" : size.toFixed(size < 10 ? 1 : 0) + " " + units[unit];
  };

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy-target]");
    if (!button) return;
    const field = document.getElementById(button.dataset.copyTarget);
    if (!field) return;
    const done = function () {
      button.textContent = "Copied";
      Upscaler.announce("Copied to the clipboard.");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        field.select();
      });
    } else {
      // Plain http on another host: let the user copy the selected text.
      field.select();
      if (document.execCommand && document.execCommand("copy")) done();
    }
  });
})();
