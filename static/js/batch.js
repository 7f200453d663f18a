/* The batch page: progress, counts and each image's status, live until the batch ends. */
(function () {
  "use strict";

  const Upscaler = window.Upscaler;
  const config = JSON.parse(document.getElementById("batch-config").textContent);
  const progress = document.querySelector("[data-batch-progress]");
  const summary = document.querySelector("[data-batch-summary]");
  const statusNode = document.querySelector("[data-batch-status]");

  const poller = new Upscaler.StatusPoller(config.statusUrl, function (data, problem) {
    if (problem) {
      summary.textContent = problem;
      return;
    }
    Object.values(data.images).forEach(function (image) {
      const row = document.querySelector('[data-image-id="' + image.id + '"]');
      const cell = row && row.querySelector("[data-image-status]");
      if (cell && cell.textContent !== image.status_text) cell.textContent = image.status_text;
      if (image.finished) poller.forgetImage(image.id);
    });
    const batch = data.batches[config.batchId];
    if (!batch) return;
    progress.value = batch.progress;
    summary.textContent = batch.completed_images + batch.failed_images + " of " + batch.total_images +
      " done, " + batch.failed_images + " failed";
    if (statusNode.textContent !== batch.status_text) {
      statusNode.textContent = batch.status_text;
      Upscaler.announce("Batch " + batch.status_text.toLowerCase() + ".");
    }
    if (batch.finished) {
      poller.forgetBatch(config.batchId);
      window.location.reload(); // show the results' links and the archive
    }
  });
  if (!config.finished) {
    config.imageIds.forEach((id) => poller.watchImage(id));
    poller.watchBatch(config.batchId);
  }
})();
