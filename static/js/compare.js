/* The result page: the before/after slider, the 100 % zoom, and live status until the job ends.
 *
 * The slider is an <input type="range"> (so the keyboard works: arrows, Page Up/Down,
 * Home/End); dragging on the picture moves it too. The original is stretched by CSS to
 * the result's size, so both halves line up pixel for pixel.
 */
(function () {
  "use strict";

  const Upscaler = window.Upscaler;
  const compare = document.querySelector("[data-compare]");

  if (compare) {
    const frame = compare.querySelector(".compare-frame");
    const range = compare.querySelector('input[type="range"]');
    const zoom = compare.querySelector("[data-zoom]");
    // The result's size, for the CSS: from data attributes, as the page's policy allows no style attribute.
    frame.style.setProperty("--w", frame.dataset.width);
    frame.style.setProperty("--h", frame.dataset.height);

    const show = function () {
      const value = Number(range.value);
      frame.style.setProperty("--pos", value + "%");
      range.setAttribute("aria-valuetext", value + " % original, " + (100 - value) + " % result");
    };
    range.addEventListener("input", show);
    show();

    // Pointer dragging on the picture (the range input stays the source of truth).
    let dragging = false;
    const moveTo = function (event) {
      const box = frame.getBoundingClientRect();
      const fraction = Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1);
      range.value = Math.round(fraction * 100);
      show();
    };
    frame.addEventListener("pointerdown", function (event) {
      dragging = true;
      frame.setPointerCapture(event.pointerId);
      moveTo(event);
    });
    frame.addEventListener("pointermove", (event) => dragging && moveTo(event));
    frame.addEventListener("pointerup", () => (dragging = false));
    frame.addEventListener("pointercancel", () => (dragging = false));

    zoom.addEventListener("click", function () {
      const actual = zoom.getAttribute("aria-pressed") !== "true";
      zoom.setAttribute("aria-pressed", String(actual));
      compare.classList.toggle("is-actual", actual);
      zoom.textContent = actual ? "Fit to the page" : "Actual pixels (100 %)";
      Upscaler.announce(actual ? "Showing the actual pixels; scroll to move around." : "Fitted to the page.");
    });
  }

  // Until the image is finished, follow it and reload once to show the comparison or the error.
  const configNode = document.getElementById("detail-config");
  if (configNode) {
    const config = JSON.parse(configNode.textContent);
    const statusNode = document.querySelector("[data-image-status]");
    const poller = new Upscaler.StatusPoller(config.statusUrl, function (data, problem) {
      if (problem) {
        statusNode.textContent = problem;
        return;
      }
      const image = data.images[config.imageId];
      if (!image) return;
      if (statusNode.textContent !== image.status_text) {
        statusNode.textContent = image.status_text;
        Upscaler.announce("Status: " + image.status_text);
      }
      if (image.finished) {
        poller.forgetImage(config.imageId);
        window.location.reload();
      }
    });
    poller.watchImage(config.imageId);
  }
})();
