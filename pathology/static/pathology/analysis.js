// The pathology page: ask for analyses, follow them (polling while any is
// open), read a result, cancel; staff also see the workers and requeue.
// Everything goes through the JSON API with the session and CSRF (site.api);
// words come translated from the server (the labels, and the API's
// status_display and error_summary).
(function () {
  "use strict";
  const L = JSON.parse(document.getElementById("pathology-labels").textContent);
  const root = document.getElementById("pathology-page");
  const staff = root.dataset.staff === "true";
  const maxBytes = Number(root.dataset.uploadMaxMb) * 1024 * 1024;
  const API = "/api/pathology/";
  const ACTIVE = ["pending", "processing"];
  const POLL_MS = 2000;

  const form = document.getElementById("analyze-form");
  const formStatus = document.getElementById("form-status");
  const formError = document.getElementById("form-error");
  const tbody = document.querySelector("#requests-table tbody");
  const empty = document.getElementById("requests-empty");
  const detail = document.getElementById("detail");
  let requests = [];
  let openId = null;
  let timer = null;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([key, value]) {
      if (key === "text") { node.textContent = value; }
      else if (key === "dataset") { Object.assign(node.dataset, value); }
      else { node.setAttribute(key, value); }
    });
    (children || []).forEach(function (child) { node.append(child); });
    return node;
  }

  function slideName(request) {
    return request.slide_file.replace(/^upload-[0-9a-f]{8}-/, "") || request.orthanc_instance_id || request.orthanc_series_id;
  }

  function percent(value) { return (100 * value).toFixed(1) + "%"; }

  // The form: one way of naming the slide at a time.
  function mode() { return form.querySelector("input[name=mode]:checked").value; }
  function showMode() {
    form.querySelectorAll("[data-mode]").forEach(function (row) { row.hidden = row.dataset.mode !== mode(); });
  }
  form.querySelectorAll("input[name=mode]").forEach(function (radio) { radio.addEventListener("change", showMode); });

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    formError.textContent = "";
    formStatus.textContent = "";
    const how = mode();
    const extra = {};
    ["patient_id", "study_id"].forEach(function (name) {
      const value = form.elements[name].value.trim();
      if (value) { extra[name] = value; }
    });
    let body;
    if (how === "slide") {
      const file = form.elements.slide.files[0];
      if (!file) { formError.textContent = L.chooseFile; return; }
      if (file.size > maxBytes) { formError.textContent = L.tooLarge; return; }
      body = new FormData();
      body.append("slide", file);
      Object.entries(extra).forEach(function ([name, value]) { body.append(name, value); });
    } else {
      const value = form.elements[how].value.trim();
      if (!value) { formError.textContent = L.nameSlide; return; }
      body = Object.assign({ [how]: value }, extra);
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    formStatus.textContent = how === "slide" ? L.uploading : L.submitting;
    try {
      const result = how === "slide" ? await upload(body) : await site.api(API + "analyze/", { method: "POST", body });
      if (!result.ok) {
        formStatus.textContent = "";
        formError.textContent = site.errorMessage(result);
        return;
      }
      formStatus.textContent = L.submitted;
      form.reset();
      showMode();
      openId = result.data.request_id;
      await refresh();
    } finally {
      button.disabled = false;
    }
  });

  // A slide can be large: XMLHttpRequest, unlike fetch, reports the upload's progress.
  function upload(body) {
    return new Promise(function (resolve) {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", API + "analyze/");
      xhr.setRequestHeader("X-CSRFToken", site.csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("Accept-Language", site.language);
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          formStatus.textContent = L.uploading + " " + Math.floor(100 * event.loaded / event.total) + "%";
        }
      });
      xhr.addEventListener("load", function () {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (error) { data = null; }
        resolve({ ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, data });
      });
      xhr.addEventListener("error", function () { resolve({ ok: false, status: 0, data: null }); });
      xhr.send(body);
    });
  }

  // The list, polled while any request is still open.
  async function loadRequests() {
    const result = await site.api(API + "requests/?limit=50");
    if (!result.ok) { empty.hidden = false; empty.textContent = site.errorMessage(result); return; }
    requests = result.data.results;
    renderRequests();
  }

  function renderRequests() {
    tbody.replaceChildren();
    empty.hidden = requests.length > 0;
    empty.textContent = L.none;
    requests.forEach(function (request) {
      const id = request.request_id;
      const actions = el("div", { class: "row-actions" }, [
        button(L.open, "request-open", function () {
          openId = id;
          renderRequests();
          showDetail(request);
          // On a phone the result is below the list: bring it into view.
          if (window.matchMedia("(max-width: 980px)").matches) { detail.scrollIntoView({ block: "start" }); }
        }),
      ]);
      if (ACTIVE.includes(request.status)) {
        actions.append(button(L.cancel, "request-cancel", function () { act(id, "cancel"); }, "danger"));
      }
      if (staff && ["failed", "cancelled", "processing"].includes(request.status)) {
        actions.append(button(L.requeue, "request-requeue", function () { act(id, "requeue"); }));
      }
      const status = el("td", { class: "status-cell" }, [
        el("span", { class: "badge", "data-status": request.status, "data-testid": "request-status", text: request.status_display }),
        ACTIVE.includes(request.status)
          ? el("div", { class: "progress", role: "progressbar", "aria-valuenow": String(request.progress), "aria-valuemin": "0", "aria-valuemax": "100" },
            [el("span", { style: "width: " + request.progress + "%" })])
          : "",
        // A finished request's badge says it all; an open one's message says where it is.
        ACTIVE.includes(request.status)
          ? el("small", { text: request.status === "pending" && !request.message ? L.waiting : request.message })
          : "",
      ]);
      tbody.append(el("tr", { dataset: { testid: "request-row", id, status: request.status }, "aria-selected": String(id === openId) }, [
        el("td", { class: "slide-name" }, [
          el("span", { text: slideName(request), "data-testid": "request-slide" }),
          el("small", {}, [
            el("time", { datetime: request.created_at, text: site.formatDateTime(request.created_at) }),
            request.slide_uploaded ? " · " + L.uploaded : "",
            staff && request.requested_by ? " · " + request.requested_by : "",
          ]),
        ]),
        status,
        el("td", {}, [actions]),
      ]));
    });
  }

  function button(text, testid, onClick, kind) {
    const node = el("button", { type: "button", "data-testid": testid, text, class: kind || "" });
    node.addEventListener("click", onClick);
    return node;
  }

  async function act(id, what) {
    if (what === "cancel" && !window.confirm(L.confirmCancel)) { return; }
    const result = await site.api(API + "requests/" + id + "/" + what + "/", { method: "POST" });
    if (!result.ok) { window.alert(site.errorMessage(result)); }
    openId = id;
    await refresh();
  }

  // One request, opened.
  function showDetail(request) {
    detail.hidden = false;
    detail.dataset.id = request.request_id;
    detail.dataset.status = request.status;
    text("detail-title", slideName(request));
    const badge = document.getElementById("detail-status");
    badge.textContent = request.status_display;
    badge.dataset.status = request.status;
    const active = ACTIVE.includes(request.status);
    document.getElementById("detail-progress").hidden = !active;
    document.getElementById("detail-progress-bar").style.width = request.progress + "%";
    text("detail-message", request.status === "pending" && !request.message ? L.waiting : request.message);

    const failure = document.getElementById("detail-failure");
    failure.hidden = request.status !== "failed";
    text("detail-error-summary", request.error_summary);
    text("detail-error", request.error);
    failure.querySelector("summary").textContent = L.details;
    failure.querySelector("details").hidden = !request.error;

    const result = request.result;
    const done = request.status === "completed" && result;
    document.getElementById("detail-result").hidden = !done;
    if (done) { showResult(request, result); }
    showFacts(request, result || {});
  }

  function text(id, value) { document.getElementById(id).textContent = value || ""; }

  function showResult(request, result) {
    const untrained = document.getElementById("detail-untrained");
    untrained.hidden = !result.untrained;
    untrained.textContent = L.untrained;
    text("detail-label", result.label);
    const bars = document.getElementById("detail-probabilities");
    bars.replaceChildren();
    Object.entries(result.probabilities).sort(function (a, b) { return b[1] - a[1]; }).forEach(function ([name, p]) {
      bars.append(
        el("span", { text: name }),
        el("span", {}, [el("div", { class: "bar", style: "width: " + (100 * p) + "%" })]),
        el("span", { class: "num", text: percent(p), "data-testid": "probability-" + name }),
      );
    });

    const view = document.getElementById("slide-view");
    const thumbnail = document.getElementById("detail-thumbnail");
    const heatmap = document.getElementById("detail-heatmap");
    setSource(thumbnail, request.thumbnail_url || request.heatmap_url);
    setSource(heatmap, request.thumbnail_url ? request.heatmap_url : null);
    heatmap.hidden = !(request.thumbnail_url && request.heatmap_url);
    applyOpacity();
    const legend = (result.heatmap && result.heatmap.stops) || ["#440154", "#21918c", "#fde725"];
    document.getElementById("legend-ramp").style.background = "linear-gradient(to right, " + legend.join(", ") + ")";

    view.querySelectorAll(".region-box").forEach(function (box) { box.remove(); });
    const slide = result.heatmap || {};
    const regions = result.top_regions || [];
    if (slide.slide_width && slide.slide_height) {
      regions.forEach(function (region, n) {
        const box = el("div", { class: "region-box", "data-testid": "region-box" }, [el("span", { text: String(n + 1) })]);
        box.style.left = (100 * region.x / slide.slide_width) + "%";
        box.style.top = (100 * region.y / slide.slide_height) + "%";
        box.style.width = (100 * (region.width || 0) / slide.slide_width) + "%";
        box.style.height = (100 * (region.height || 0) / slide.slide_height) + "%";
        view.append(box);
      });
    }
    showRegions();

    const tiles = document.getElementById("detail-tiles");
    tiles.replaceChildren();
    regions.forEach(function (region, n) {
      const url = (request.tile_urls || [])[n];
      const caption = el("figcaption", {}, [
        el("strong", { text: L.region + " " + (n + 1) }), " · " + L.score + " " + region.score.toFixed(4),
        el("br"), "x " + region.x + ", y " + region.y + " · " + L.size + " " + (region.width || "?") + " px",
      ]);
      const figure = el("figure", {}, url ? [el("img", { src: url, alt: L.region + " " + (n + 1), loading: "lazy" }), caption] : [caption]);
      tiles.append(el("li", { "data-testid": "region-tile" }, [figure]));
    });
  }

  function setSource(image, url) {
    if (!url) { image.removeAttribute("src"); return; }
    if (image.getAttribute("src") !== url) { image.src = url; }
  }

  function showFacts(request, result) {
    text("fact-worker", [request.worker, result.device].filter(Boolean).join(" · ") || "—");
    const model = result.model ? [result.model.kind, result.model.size, result.model.checkpoint].filter(Boolean).join(" / ") : "";
    const extractor = result.extractor ? result.extractor.kind : "";
    text("fact-model", [model, extractor].filter(Boolean).join(" · ") || "—");
    text("fact-patches", result.patches ? result.patches + " × " + result.patch_size + " px" : "—");
    const timings = result.timings_s || {};
    const parts = ["segmentation", "features", "model", "heatmap", "total"].filter(function (key) { return key in timings; })
      .map(function (key) { return L[key] + " " + timings[key].toFixed(1) + " " + L.seconds; });
    text("fact-timings", parts.join(" · ") || "—");
    text("fact-created", site.formatDateTime(request.created_at));
    text("fact-started", site.formatDateTime(request.started_at) || "—");
    text("fact-finished", site.formatDateTime(request.finished_at) || "—");
    text("fact-attempts", request.attempts + " / " + request.max_attempts);
    text("fact-case", [request.patient_id, request.study_id].filter(Boolean).join(" / ") || "—");
  }

  const opacity = document.getElementById("heatmap-opacity");
  function applyOpacity() {
    document.getElementById("detail-heatmap").style.opacity = String(opacity.value / 100);
    document.getElementById("heatmap-opacity-value").textContent = opacity.value + "%";
  }
  opacity.addEventListener("input", applyOpacity);
  const regionsToggle = document.getElementById("show-regions");
  function showRegions() {
    document.querySelectorAll(".region-box").forEach(function (box) { box.hidden = !regionsToggle.checked; });
  }
  regionsToggle.addEventListener("change", showRegions);

  // Staff: the workers.
  async function loadWorkers() {
    const table = document.getElementById("workers-table");
    if (!table) { return; }
    const result = await site.api(API + "workers/?limit=100");
    if (!result.ok) { return; }
    const body = table.querySelector("tbody");
    body.replaceChildren();
    const workers = result.data.results;
    const none = document.getElementById("workers-empty");
    none.hidden = workers.length > 0;
    none.textContent = L.noWorkers;
    workers.forEach(function (worker) {
      const current = worker.current_request
        ? button(worker.current_request.slice(0, 8), "worker-request", function () { openId = worker.current_request; refresh(); }, "link")
        : el("span", { class: "muted", text: L.idle });
      body.append(el("tr", { "data-testid": "worker-row" }, [
        el("td", {}, [el("strong", { text: worker.name }), el("br"), el("small", { class: "muted", text: [worker.host, worker.version].filter(Boolean).join(" · ") })]),
        el("td", { text: worker.device || "—" }),
        el("td", {}, [el("time", { datetime: worker.last_seen || "", text: site.formatDateTime(worker.last_seen) || "—" })]),
        el("td", {}, [current]),
      ]));
    });
  }

  async function refresh() {
    window.clearTimeout(timer);
    await Promise.all([loadRequests(), loadWorkers()]);
    let opened = requests.find(function (request) { return request.request_id === openId; });
    if (openId && !opened) {
      const result = await site.api(API + "requests/" + openId + "/");
      if (result.ok) { opened = result.data; }
    }
    if (opened) { showDetail(opened); renderRequests(); }
    if (requests.some(function (request) { return ACTIVE.includes(request.status); }) || (opened && ACTIVE.includes(opened.status))) {
      timer = window.setTimeout(refresh, POLL_MS);
    }
  }

  // The home page links to a request as /pathology/#request-<id>.
  const linked = window.location.hash.match(/^#request-([0-9a-f-]{36})$/);
  if (linked) { openId = linked[1]; }
  showMode();
  refresh();
})();
