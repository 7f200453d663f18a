/* Upscaler.StatusPoller: follows images and batches through GET /app/status while they run.
 *
 * The endpoint is the dashboard's own (session, outside /api/), so polling does not count
 * against the workspace's hourly API requests. Polling stops by itself when nothing
 * watched is unfinished, and resumes when something new is watched.
 *
 *   const poller = new Upscaler.StatusPoller(url, function (data) { ... });
 *   poller.watchImage(id); poller.watchBatch(id);   // then forget*() once finished
 */
(function () {
  "use strict";

  const Upscaler = (window.Upscaler = window.Upscaler || {});

  class StatusPoller {
    constructor(url, onUpdate, interval) {
      this.url = url;
      this.onUpdate = onUpdate;
      this.interval = interval || 1500;
      this.images = new Set();
      this.batches = new Set();
      this.timer = null;
      this.failures = 0;
    }

    watchImage(id) {
      this.images.add(id);
      this.schedule();
    }

    watchBatch(id) {
      this.batches.add(id);
      this.schedule();
    }

    forgetImage(id) {
      this.images.delete(id);
    }

    forgetBatch(id) {
      this.batches.delete(id);
    }

    get idle() {
      return this.images.size === 0 && this.batches.size === 0;
    }

    schedule(delay) {
      if (this.timer !== null || this.idle) return;
      this.timer = window.setTimeout(() => this.tick(), delay === undefined ? this.interval : delay);
    }

    async tick() {
      this.timer = null;
      if (this.idle) return;
      const query = new URLSearchParams({
        images: Array.from(this.images).join(","),
        batches: Array.from(this.batches).join(","),
      });
      let delay = this.interval;
      try {
        const response = await fetch(this.url + "?" + query.toString(), {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (response.status === 401) {
          this.onUpdate(null, "Your session has ended: log in again to follow your images.");
          return; // stop: every later request would fail the same way
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        this.failures = 0;
        this.onUpdate(await response.json(), null);
      } catch (error) {
        // A network blip or a restarting server: back off, then try again.
        this.failures += 1;
        delay = Math.min(this.interval * 2 ** this.failures, 30000);
      }
      this.schedule(delay);
    }
  }

  Upscaler.StatusPoller = StatusPoller;
})();
