/* Images page: the list; history / tag / save / remove per image; pull from a registry with
   its progress lines; load of a `docker save` or OCI archive and import of a rootfs tar, both
   with an upload progress bar. */
"use strict";

(() => {
  const { api, el, toast, errorText, fmtTime, fmtBytes, confirmDialog } = dw;
  const tbody = document.querySelector("#images tbody");
  const detail = document.getElementById("image-detail");
  let images = dw.initial.images || [];

  function render() {
    tbody.replaceChildren(...images.map((img) => el("tr", { "data-id": img.id },
      el("td", { text: img.repo_tags.join(", ") || "<none>" }),
      el("td", {}, el("code", { title: img.id, text: img.id.slice(0, 12) })),
      el("td", { text: fmtTime(img.created) }),
      el("td", { text: fmtBytes(img.size) }),
      el("td", { class: "actions" },
        el("button", { class: "small", onclick: () => history(img) }, "History"),
        el("button", { class: "small", onclick: () => tag(img) }, "Tag"),
        el("a", { class: "button small", href: "/api/images/" + img.id + "/save/", download: "" }, "Save"),
        el("button", { class: "small danger", onclick: () => remove(img) }, "Remove")))));
  }

  async function reload() {
    const r = await api("GET", "/api/images/");
    if (r.ok) { images = r.data; render(); }
  }

  async function history(img) {
    const r = await api("GET", "/api/images/" + img.id + "/history/");
    detail.hidden = false;
    detail.textContent = r.ok ? JSON.stringify(r.data, null, 2) : "History of " + img.id.slice(0, 12) + ": " +
      errorText(r);
  }

  async function tag(img) {
    const ref = await confirmDialog("New tag (repository:tag) for " + img.id.slice(0, 12) + ":", "Tag", "");
    if (!ref) return;
    const [repo, t] = dw.splitRef(ref);
    const r = await api("POST", "/api/images/" + img.id + "/tag/?repo=" + encodeURIComponent(repo) +
      "&tag=" + encodeURIComponent(t || "latest"));
    if (r.ok) { toast("tagged " + ref); reload(); } else toast("tag: " + errorText(r), "error");
  }

  async function remove(img) {
    if (!(await confirmDialog("Remove image " + (img.repo_tags[0] || img.id.slice(0, 12)) + "?", "Remove"))) return;
    const r = await api("DELETE", "/api/images/" + img.id + "/");
    if (r.ok) { toast("removed"); reload(); } else toast("remove: " + errorText(r), "error");
  }

  /** POST a file with an upload progress bar; calls done(xhr) on success. A failure is shown
      as an error (and the bar hidden): the server's message, not a full bar in grey. */
  function upload(url, file, bar, status, done) {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", dw.cookie("csrftoken"));
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    bar.hidden = false;
    bar.value = 0;
    dw.showStatus(status, "uploading…", "busy");
    xhr.upload.onprogress = (p) => { if (p.lengthComputable) bar.value = (100 * p.loaded) / p.total; };
    xhr.upload.onload = () => { dw.showStatus(status, "uploaded, processing…", "busy"); };
    xhr.onload = () => {
      let msg = "HTTP " + xhr.status;
      try { msg = JSON.parse(xhr.responseText).message || msg; } catch (e) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) { bar.value = 100; done(xhr); reload(); }
      else { bar.hidden = true; dw.showStatus(status, "failed: " + msg, "error"); }
    };
    xhr.onerror = () => { bar.hidden = true; dw.showStatus(status, "failed: network error", "error"); };
    xhr.send(file);
  }

  // import: a rootfs tar as a new image
  const form = document.getElementById("import-form");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = form.file.files[0];
    if (!file) return;
    const [repo, t] = dw.splitRef(form.repo.value || "");
    const status = document.getElementById("import-status");
    upload("/api/images/import/?repo=" + encodeURIComponent(repo || "") + "&tag=" + encodeURIComponent(t || "latest"),
      file, document.getElementById("import-progress"), status, (xhr) => {
        const img = JSON.parse(xhr.responseText);
        dw.showStatus(status, "imported " + (img.repo_tags.join(", ") || img.id.slice(0, 12)), "ok");
      });
  });

  // load: a docker save / OCI layout archive
  const loadForm = document.getElementById("load-form");
  loadForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = loadForm.file.files[0];
    if (!file) return;
    const status = document.getElementById("load-status");
    upload("/api/images/load/", file, document.getElementById("load-progress"), status, (xhr) => {
      const loaded = JSON.parse(xhr.responseText);
      dw.showStatus(status, "loaded " + loaded.map((i) => i.repo_tags.join(", ") || i.id.slice(0, 12)).join("; "),
        "ok");
    });
  });

  // pull: Docker's JSON progress lines, one line per layer, updated in place
  const pullForm = document.getElementById("pull-form");
  const pullLog = document.getElementById("pull-log");
  const pullStatus = document.getElementById("pull-status");
  pullForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { image: pullForm.image.value.trim() };
    if (pullForm.username.value) { body.username = pullForm.username.value; body.password = pullForm.password.value; }
    dw.showStatus(pullStatus, "pulling…", "busy");
    pullLog.hidden = false;
    pullLog.textContent = "";
    const res = await fetch("/api/images/pull/", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": dw.cookie("csrftoken") }, body: JSON.stringify(body) });
    if (!res.ok) {
      let msg = "HTTP " + res.status;
      try { msg = (await res.json()).message || msg; } catch (err) { /* not JSON */ }
      dw.showStatus(pullStatus, "failed: " + msg, "error");
      return;
    }
    const layers = new Map();
    const general = [];
    const show = () => {
      const perLayer = [...layers].map(([id, line]) => id + ": " + line);
      pullLog.textContent = [...general.slice(0, 1), ...perLayer, ...general.slice(1)].join("\n");
    };
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    let failed = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        const m = JSON.parse(line);
        if (m.error) { failed = m.error; general.push("error: " + m.error); continue; }
        const d = m.progressDetail || {};
        const text = m.status + (d.total ? " " + fmtBytes(d.current) + " / " + fmtBytes(d.total) : "");
        if (m.id && /^[0-9a-f]{12}$/.test(m.id)) layers.set(m.id, text); else general.push(m.status);
      }
      show();
    }
    if (failed) dw.showStatus(pullStatus, "failed: " + failed, "error");
    else dw.showStatus(pullStatus, "pulled", "ok");
    reload();
  });

  render();
})();
