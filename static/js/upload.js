/* The upload page: drop or pick images, upload them through the REST API with per-file
 * progress, then follow their processing live, without reloading the page.
 *
 * Several files become batches (POST /api/batches, at most config.maxBatchImages files
 * and config.maxRequestBytes per request) when the plan has batches; otherwise each
 * file is its own POST /api/images/upscale. The session authenticates the requests;
 * the CSRF token goes in X-CSRFToken. Errors in the API's envelope
 * ({success: false, message, errors: {field: [...]}}) are shown on the file they concern.
 */
(function () {
  "use strict";

  const Upscaler = window.Upscaler;
  const config = JSON.parse(document.getElementById("upload-config").textContent);
  const form = document.getElementById("upload-form");
  const zone = document.getElementById("drop-zone");
  const input = document.getElementById("file-input");
  const list = document.getElementById("upload-list");
  const emptyNote = document.getElementById("upload-empty");
  const submit = document.getElementById("upload-button");
  const formError = document.getElementById("form-error");

  const EXTENSIONS = /\.(jpe?g|png|webp|bmp|tiff?|gif)$/i;
  // Multipart headers per file, reserved when packing files into one request.
  const PART_OVERHEAD = 2048;
  // Uploads running at once when files go one by one.
  const PARALLEL = 2;
  // The API's statuses in the dashboard's words (the status endpoint sends them as status_text).
  const STATUS_WORDS = { pending: "Queued", processing: "Processing", completed: "Completed", failed: "Failed" };
  let ready = []; // files waiting for the Upscale button
  let uploading = 0; // requests in flight (warn before leaving the page)
  const itemsById = new Map(); // image id -> item
  const groupsById = new Map(); // batch id -> group

  const poller = new Upscaler.StatusPoller(config.statusUrl, onStatus, config.pollInterval);

  // --- DOM helpers ----------------------------------------------------------------------------

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([key, value]) {
      if (value === true) node.setAttribute(key, "");
      else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value);
    });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function pluralImages(count) {
    return count + (count === 1 ? " image" : " images");
  }

  // --- Items: one per file -----------------------------------------------------------------------

  function problemWith(file) {
    if (!(file.type.startsWith("image/") || EXTENSIONS.test(file.name))) {
      return "Not an image this service reads: use JPEG, PNG, WebP, BMP, TIFF or GIF.";
    }
    if (file.size > config.maxUploadBytes) {
      return "The file is " + Upscaler.humanSize(file.size) + "; the limit is " +
        Upscaler.humanSize(config.maxUploadBytes) + ".";
    }
    if (file.size === 0) return "The file is empty.";
    return null;
  }

  function createItem(file) {
    const li = el("li", { class: "upload-item", "data-state": "ready" });
    const thumb = el("img", { class: "upload-thumb", alt: "", width: 64, height: 64 });
    if (file.type.startsWith("image/")) {
      thumb.src = URL.createObjectURL(file);
      thumb.addEventListener("load", function () {
        URL.revokeObjectURL(thumb.src);
      });
    }
    const body = el("div", { class: "upload-body" });
    const title = el("p", { class: "upload-name" }, file.name);
    const meta = el("p", { class: "upload-meta muted" }, Upscaler.humanSize(file.size));
    const progress = el("progress", { class: "upload-progress", max: 100, value: 0, "aria-label": "Upload of " + file.name });
    const status = el("p", { class: "upload-status", "data-role": "status" }, "Ready to upload");
    const error = el("p", { class: "upload-error", "data-role": "error", hidden: true });
    const actions = el("div", { class: "upload-actions" });
    body.append(title, meta, progress, status, error, actions);
    li.append(thumb, body);

    const item = { file, li, progress, status, error, actions, meta, id: null, state: "ready" };
    const remove = el("button", { type: "button", class: "secondary small" }, "Remove");
    remove.append(el("span", { class: "visually-hidden" }, " " + file.name));
    remove.addEventListener("click", function () {
      ready = ready.filter((other) => other !== item);
      li.remove();
      refresh();
      zone.focus();
    });
    actions.append(remove);
    return item;
  }

  function setState(item, state, text) {
    item.state = state;
    item.li.dataset.state = state;
    item.status.textContent = text;
  }

  function showError(item, message) {
    item.error.textContent = message;
    item.error.hidden = false;
    item.progress.hidden = true;
    setState(item, "failed", "Failed");
    item.actions.replaceChildren();
    Upscaler.announce(item.file.name + ": " + message);
  }

  /** A new group (one per request, or per drop until sent) at the top of the list; returns its <ul>. */
  function newGroup() {
    const group = el("li", { class: "upload-group" });
    const items = el("ul", { class: "upload-items" });
    group.append(items);
    list.prepend(group);
    return items;
  }

  /** Move ``items`` into a group of their own (the files of one request), dropping emptied groups. */
  function regroup(items) {
    const ul = newGroup();
    items.forEach((item) => ul.append(item.li));
    list.querySelectorAll(".upload-group").forEach(function (group) {
      if (!group.querySelector(".upload-item")) group.remove();
    });
    return ul.parentElement;
  }

  function addFiles(files) {
    const added = Array.from(files);
    if (!added.length) return;
    emptyNote.hidden = true;
    const items = newGroup();
    added.forEach(function (file) {
      const item = createItem(file);
      items.append(item.li);
      const problem = problemWith(file);
      if (problem) showError(item, problem);
      else ready.push(item);
    });
    refresh();
    Upscaler.announce(pluralImages(added.length) + " added. " + submit.textContent + " when ready.");
  }

  function refresh() {
    submit.disabled = ready.length === 0;
    submit.textContent = ready.length > 1 ? "Upscale " + ready.length + " images" : "Upscale";
  }

  // --- Choosing files: drop zone, keyboard, picker ------------------------------------------------

  function hasFiles(event) {
    return event.dataTransfer && Array.from(event.dataTransfer.types || []).includes("Files");
  }

  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", function (event) {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault(); // Space would scroll the page
      input.click();
    }
  });
  input.addEventListener("change", function () {
    addFiles(input.files);
    input.value = ""; // picking the same file again must fire "change" again
  });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      zone.classList.add("is-dragover");
    });
  });
  zone.addEventListener("dragleave", function (event) {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("is-dragover");
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("is-dragover");
    addFiles(event.dataTransfer.files);
  });
  // A file dropped next to the zone must not make the browser navigate away to it.
  ["dragover", "drop"].forEach(function (type) {
    window.addEventListener(type, function (event) {
      if (hasFiles(event) && !zone.contains(event.target)) event.preventDefault();
    });
  });

  // --- Options ---------------------------------------------------------------------------------------

  const scaleFields = document.getElementById("scale-fields");
  const targetFields = document.getElementById("target-fields");

  function sizeMode() {
    return form.querySelector('input[name="size_mode"]:checked').value;
  }

  form.querySelectorAll('input[name="size_mode"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      const target = sizeMode() === "target";
      scaleFields.hidden = target;
      targetFields.hidden = !target;
      scaleFields.querySelectorAll("select").forEach((field) => (field.disabled = target));
      targetFields.querySelectorAll("input").forEach((field) => (field.disabled = !target));
    });
  });

  /** The options every file is sent with, or null (with the form's error shown) when incomplete. */
  function options() {
    const data = new FormData(form);
    const fields = { model: data.get("model") };
    if (sizeMode() === "scale") {
      fields.scale_factor = data.get("scale_factor");
    } else {
      ["target_width", "target_height"].forEach(function (name) {
        const value = (data.get(name) || "").trim();
        if (value) fields[name] = value;
      });
      if (!fields.target_width && !fields.target_height) {
        formError.textContent = "Give a target width, a target height or both.";
        formError.hidden = false;
        document.getElementById("target-width").focus();
        return null;
      }
    }
    formError.hidden = true;
    return fields;
  }

  // --- Uploading ------------------------------------------------------------------------------------

  /** POST a multipart form with progress events; resolves to {status, body} (body: the parsed JSON). */
  function send(url, formData, onProgress) {
    return new Promise(function (resolve) {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRFToken", Upscaler.csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      xhr.upload.addEventListener("load", () => onProgress(1));
      xhr.addEventListener("load", function () {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch (error) {
          body = null; // an HTML error page from a proxy, say
        }
        resolve({ status: xhr.status, body });
      });
      xhr.addEventListener("error", () => resolve({ status: 0, body: null }));
      xhr.addEventListener("abort", () => resolve({ status: 0, body: null }));
      uploading += 1;
      xhr.addEventListener("loadend", () => (uploading -= 1));
      xhr.send(formData);
    });
  }

  /** The envelope's field errors (each names its field), else its message; ``skip`` leaves out some fields. */
  function describe(response, skip) {
    if (response.status === 0) return "The upload did not reach the server: check your connection and try again.";
    const body = response.body;
    if (!body || typeof body !== "object") return "The server answered " + response.status + ": please try again.";
    const lines = [];
    Object.entries(body.errors || {}).forEach(function ([field, messages]) {
      if (!(skip && skip(field))) lines.push(...messages);
    });
    return (lines.length ? lines : [body.message || "The upload was refused."]).join(" ");
  }

  function lock(item) {
    item.actions.replaceChildren();
    setState(item, "uploading", "Uploading…");
  }

  function uploaded(item, image) {
    item.id = image.id;
    item.progress.value = 100;
    item.progress.setAttribute("aria-label", "Processing of " + item.file.name);
    itemsById.set(image.id, item);
    applyImage(item, { status: image.status, status_text: STATUS_WORDS[image.status], error: image.error });
    poller.watchImage(image.id);
  }

  async function uploadSingle(item, fields) {
    const data = new FormData();
    data.append("image", item.file, item.file.name);
    Object.entries(fields).forEach(([key, value]) => data.append(key, value));
    const response = await send(config.uploadUrl, data, function (fraction) {
      item.progress.value = Math.round(fraction * 100);
      item.status.textContent = fraction < 1 ? "Uploading… " + Math.round(fraction * 100) + " %" : "Uploaded, checking…";
    });
    if (response.status === 202 && response.body && response.body.success) uploaded(item, response.body.data);
    else showError(item, describe(response));
  }

  /** Files packed into requests of at most maxBatchImages files and maxRequestBytes bytes. */
  function packBatches(items) {
    const batches = [];
    let current = [];
    let bytes = 0;
    items.forEach(function (item) {
      const size = item.file.size + PART_OVERHEAD;
      if (current.length && (current.length >= config.maxBatchImages || bytes + size > config.maxRequestBytes - 65536)) {
        batches.push(current);
        current = [];
        bytes = 0;
      }
      current.push(item);
      bytes += size;
    });
    if (current.length) batches.push(current);
    return batches;
  }

  function createGroupHeader(groupLi) {
    const header = el("div", { class: "batch-header" });
    const title = el("p", { class: "batch-title" });
    const progress = el("progress", { class: "batch-progress", max: 100, value: 0 });
    const summary = el("p", { class: "batch-summary muted", "data-role": "batch-status" }, "Uploading…");
    const links = el("p", { class: "batch-links" });
    header.append(title, progress, summary, links);
    groupLi.prepend(header);
    return { header, title, progress, summary, links, id: null };
  }

  async function uploadBatch(items, fields, name) {
    const group = createGroupHeader(regroup(items));
    group.title.textContent = name || "Batch of " + pluralImages(items.length);
    group.progress.setAttribute("aria-label", "Progress of " + group.title.textContent);
    const data = new FormData();
    items.forEach((item) => data.append("images", item.file, item.file.name));
    Object.entries(fields).forEach(([key, value]) => data.append(key, value));
    if (name) data.append("name", name);

    // One request carries every file, in order: a file is uploaded once the bytes before its end are.
    const total = items.reduce((sum, item) => sum + item.file.size, 0) || 1;
    const response = await send(config.batchUrl, data, function (fraction) {
      group.summary.textContent = fraction < 1 ? "Uploading… " + Math.round(fraction * 100) + " %" : "Uploaded, checking…";
      let start = 0;
      items.forEach(function (item) {
        const done = Math.min(Math.max((fraction * total - start) / (item.file.size || 1), 0), 1);
        item.progress.value = Math.round(done * 100);
        item.status.textContent = done < 1 ? "Uploading… " + Math.round(done * 100) + " %" : "Uploaded, checking…";
        start += item.file.size;
      });
    });

    if (response.status === 202 && response.body && response.body.success) {
      const batch = response.body.data;
      group.id = batch.id;
      groupsById.set(batch.id, group);
      applyBatch(group, batch);
      const images = batch.images.slice();
      items.forEach(function (item, index) {
        // The API lists the images in upload order; fall back to the name if that ever changes.
        let image = images[index];
        if (!image || image.original_filename !== item.file.name) {
          image = images.find((candidate) => candidate && candidate.original_filename === item.file.name) || image;
        }
        images[images.indexOf(image)] = null;
        if (image) uploaded(item, image);
      });
      poller.watchBatch(batch.id);
      return;
    }
    // Refused as a whole: nothing was stored. Files named in the errors get their own message;
    // the others go back to "ready" so that the rest can be sent again without the bad ones.
    group.header.remove();
    const perFile = {};
    Object.entries((response.body && response.body.errors) || {}).forEach(function ([field, messages]) {
      const match = /^images\.(\d+)$/.exec(field);
      if (match) perFile[match[1]] = messages.join(" ");
    });
    const general = describe(response, (field) => /^images\.\d+$/.test(field));
    const anyPerFile = Object.keys(perFile).length > 0;
    items.forEach(function (item, index) {
      if (perFile[index] !== undefined) {
        showError(item, perFile[index]);
      } else if (anyPerFile) {
        item.progress.value = 0;
        setState(item, "ready", "Not uploaded: another file of the batch was refused. Upscale again to send it.");
        ready.push(item);
      } else {
        showError(item, general);
      }
    });
    refresh();
  }

  async function runQueue(items, worker) {
    const queue = items.slice();
    const lanes = Array.from({ length: Math.min(PARALLEL, queue.length) }, async function () {
      while (queue.length) await worker(queue.shift());
    });
    await Promise.all(lanes);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const fields = options();
    if (!fields || !ready.length) return;
    const items = ready;
    ready = [];
    refresh();
    items.forEach(lock);
    const nameField = document.getElementById("batch-name");
    const name = nameField ? nameField.value.trim() : "";
    if (config.batches && items.length > 1) {
      Upscaler.announce("Uploading " + pluralImages(items.length) + " as a batch.");
      const batches = packBatches(items);
      batches.forEach(function (batch, index) {
        const label = name && batches.length > 1 ? name + " (" + (index + 1) + ")" : name;
        uploadBatch(batch, fields, label);
      });
    } else {
      Upscaler.announce("Uploading " + pluralImages(items.length) + ".");
      regroup(items);
      runQueue(items, (item) => uploadSingle(item, fields));
    }
  });

  window.addEventListener("beforeunload", function (event) {
    if (uploading > 0) {
      // The browser asks whether to leave mid-upload.
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // --- Live status -------------------------------------------------------------------------------------

  function link(text, href, hiddenSuffix, extra) {
    const a = el("a", Object.assign({ href, class: "button small" }, extra || {}), text);
    if (hiddenSuffix) a.append(el("span", { class: "visually-hidden" }, " " + hiddenSuffix));
    return a;
  }

  function applyImage(item, image) {
    const changed = item.state !== image.status;
    if (image.status === "failed") {
      if (changed) showError(item, image.error || "Processing failed.");
      return;
    }
    const percent = image.status === "processing" && image.progress ? " " + image.progress + "%" : "";
    setState(item, image.status, image.status_text + percent);
    if (image.status === "completed") {
      item.progress.hidden = true;
      if (image.result_dimensions) {
        item.meta.textContent = Upscaler.humanSize(item.file.size) + " → " + image.result_dimensions + " px";
      }
      item.actions.replaceChildren(
        link("View result", image.detail_url, item.file.name),
        link("Download", image.download_url, item.file.name, { download: "" }),
      );
    } else if (percent) {
      item.progress.value = image.progress; // the network passes' progress, from the worker
    } else {
      item.progress.removeAttribute("value"); // indeterminate while queued, or before the first tile
    }
    if (changed) Upscaler.announce(item.file.name + ": " + image.status_text);
  }

  function applyBatch(group, batch) {
    group.progress.value = batch.progress;
    const done = batch.completed_images + batch.failed_images;
    group.summary.textContent =
      (batch.status_text || STATUS_WORDS[batch.status] || batch.status) + ": " + done + " of " +
      pluralImages(batch.total_images) + " done" + (batch.failed_images ? ", " + batch.failed_images + " failed" : "") + ".";
    const links = [];
    if (batch.detail_url) links.push(link("Batch page", batch.detail_url, group.title.textContent, { class: "button small secondary" }));
    if (batch.finished && batch.archive_url) {
      links.push(link("Download all (ZIP)", batch.archive_url, group.title.textContent, { download: "" }));
    }
    group.links.replaceChildren(...links);
  }

  function updateUsage(usage) {
    const meter = document.querySelector("[data-usage-meter]");
    if (!meter || !usage) return;
    meter.querySelector("[data-usage-used]").textContent = usage.used;
    meter.querySelector("[data-usage-remaining]").textContent = usage.remaining;
    const bar = meter.querySelector("progress");
    bar.value = usage.percentage;
    bar.classList.toggle("full", usage.percentage >= 100);
  }

  function onStatus(data, problem) {
    if (problem) {
      formError.textContent = problem;
      formError.hidden = false;
      return;
    }
    itemsById.forEach(function (item, id) {
      const image = data.images[id];
      if (!image) {
        // Deleted meanwhile, or the workspace was switched in another tab.
        showError(item, "This image is no longer in the current workspace.");
        itemsById.delete(id);
        poller.forgetImage(id);
        return;
      }
      applyImage(item, image);
      if (image.finished) {
        itemsById.delete(id);
        poller.forgetImage(id);
      }
    });
    groupsById.forEach(function (group, id) {
      const batch = data.batches[id];
      if (!batch) {
        groupsById.delete(id);
        poller.forgetBatch(id);
        return;
      }
      applyBatch(group, batch);
      if (batch.finished) {
        groupsById.delete(id);
        poller.forgetBatch(id);
        Upscaler.announce(group.title.textContent + ": " + batch.status_text + ".");
      }
    });
    updateUsage(data.usage);
  }
})();
