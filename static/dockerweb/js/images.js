/* Images page: the list; history / tag / save / remove per image, push / untag per tag;
   registry login (checked by the server, kept in this page only); pull from a registry with
   its progress lines; load of a `docker save` or OCI archive and import of a rootfs tar, both
   with an upload progress bar. */
"use strict";

(() => {
  const { api, el, toast, errorText, fmtTime, fmtBytes, confirmDialog } = dw;
  const tbody = document.querySelector("#images tbody");
  const detail = document.getElementById("image-detail");
  let images = dw.initial.images || [];

  const registryStatus = document.getElementById("registry-status");
  const registryLog = document.getElementById("registry-log");
  const logins = new Map(); // registry host -> [username, password]: this page only, never stored

  /** The registry host of a reference: its first component when that looks like a host
      (has "." or ":" or is "localhost"), as Docker's reference grammar says; else Docker Hub. */
  function registryOf(ref) {
    const first = ref.split("/")[0];
    return ref.includes("/") && (/[.:]/.test(first) || first === "localhost") ? first : "docker.io";
  }

  function render() {
    tbody.replaceChildren(...images.map((img) => el("tr", { "data-id": img.id },
      el("td", { class: "tags", "data-label": "Tags" }, ...(img.repo_tags.length ? img.repo_tags.map((t) => el("span", {
        class: "tag", "data-tag": t },
        el("span", { class: "tag-name", text: t }),
        el("button", { class: "small", "aria-label": "Push " + t, onclick: (e) => push(t, e.target) }, "Push"),
        el("button", { class: "small", "aria-label": "Untag " + t, onclick: (e) => untag(t, e.target) }, "Untag")))
        : [el("span", { class: "muted", text: "<none>" })])),
      el("td", { "data-label": "Id" }, el("code", { title: img.id, text: img.id.slice(0, 12) })),
      el("td", { "data-label": "Created", text: fmtTime(img.created) }),
      el("td", { "data-label": "Size", text: fmtBytes(img.size) }),
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
    const [repo, t] = dw.splitRef(ref.trim());
    const r = await api("POST", "/api/images/" + img.id + "/tag/?repo=" + encodeURIComponent(repo) +
      "&tag=" + encodeURIComponent(t || "latest"));
    if (r.ok) { toast("tagged " + ref); reload(); } else toast("tag: " + errorText(r), "error");
  }

  /** Untag one tag: the image stays while other tags or containers hold it. */
  async function untag(t, button) {
    if (!(await confirmDialog("Remove the tag " + t + "? (the image goes too if it was its last tag)", "Untag"))) {
      return;
    }
    button.disabled = true;
    dw.announce("untagging " + t + "…");
    const r = await api("DELETE", "/api/images/" + dw.refPath(t) + "/");
    button.disabled = false;
    if (r.ok) { toast("untagged " + t); reload(); } else toast("untag: " + errorText(r), "error");
  }

  /** Remove the image itself, with every tag it has. */
  async function remove(img) {
    const n = img.repo_tags.length;
    const what = "image " + img.id.slice(0, 12) + (n ? " and its " + (n === 1 ? "tag " + img.repo_tags[0] :
      n + " tags") : "");
    if (!(await confirmDialog("Remove " + what + "?", "Remove"))) return;
    // feedback at once: the row's buttons are off and "removing…" is said until it ends
    const buttons = [...document.querySelectorAll("#images tr[data-id='" + img.id + "'] button")];
    for (const b of buttons) b.disabled = true;
    dw.announce("removing " + what + "…");
    const r = await api("DELETE", "/api/images/" + img.id + "/" + (n > 1 ? "?force=1" : ""));
    for (const b of buttons) b.disabled = false;
    if (r.ok) { toast("removed " + what); reload(); } else toast("remove: " + errorText(r), "error");
  }

  /** Push one tag to its registry, with the credentials logged in on this page. */
  async function push(t, button) {
    button.disabled = true;
    dw.showStatus(registryStatus, "pushing " + t + "…", "busy");
    document.getElementById("registry-card").scrollIntoView({ block: "nearest" });
    const body = {};
    const creds = logins.get(registryOf(t));
    if (creds) [body.username, body.password] = creds;
    const failed = await progress("/api/images/" + dw.refPath(t) + "/push/", body, registryLog);
    button.disabled = false;
    if (failed) dw.showStatus(registryStatus, "failed: push " + t + ": " + failed, "error");
    else dw.showStatus(registryStatus, "pushed " + t, "ok");
  }

  /** POST `body` to a JSON-progress endpoint (pull, push), showing its lines in `log` (one line
      per layer, updated in place); resolves to the error text, or "" on success. */
  async function progress(url, body, log) {
    log.hidden = false;
    log.textContent = "";
    let res;
    try {
      res = await fetch(url, { method: "POST", credentials: "same-origin", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", "X-CSRFToken": dw.cookie("csrftoken") } });
    } catch (err) { return "network error: " + err.message; }
    if (!res.ok) {
      let msg = "HTTP " + res.status;
      try { msg = (await res.json()).message || msg; } catch (err) { /* not JSON */ }
      return msg;
    }
    const layers = new Map();
    const general = [];
    const show = () => {
      const perLayer = [...layers].map(([id, line]) => id + ": " + line);
      log.textContent = [...general.slice(0, 1), ...perLayer, ...general.slice(1)].join("\n");
    };
    let failed = "";
    await dw.jsonLines(res, (m) => {
      if (m.error) { failed = m.error; general.push("error: " + m.error); return; }
      const d = m.progressDetail || {};
      const text = m.status + (d.total ? " " + fmtBytes(d.current) + " / " + fmtBytes(d.total) : "");
      if (m.id && /^[0-9a-f]{12}$/.test(m.id)) layers.set(m.id, text); else general.push(m.status);
    }, show);
    return failed;
  }

  // registry login: checked by the server against the registry; kept in this page only
  const loginForm = document.getElementById("login-form");
  loginForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const server = loginForm.serveraddress.value.trim();
    const button = loginForm.querySelector("button[type=submit]");
    button.disabled = true;
    dw.showStatus(registryStatus, "logging in to " + server + "…", "busy");
    const r = await api("POST", "/api/auth/", { serveraddress: server, username: loginForm.username.value,
                                               password: loginForm.password.value });
    button.disabled = false;
    if (r.ok) {
      logins.set(server.replace(/^[a-z]+:\/\//, "").split("/")[0], [loginForm.username.value, loginForm.password.value]);
      loginForm.password.value = "";
      dw.showStatus(registryStatus, "logged in to " + server + " (for pushes and pulls from this page)", "ok");
    } else dw.showStatus(registryStatus, "failed: login to " + server + ": " + errorText(r), "error");
  });

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

  // pull: Docker's JSON progress lines
  const pullForm = document.getElementById("pull-form");
  const pullLog = document.getElementById("pull-log");
  const pullStatus = document.getElementById("pull-status");
  pullForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const ref = pullForm.image.value.trim();
    const body = { image: ref };
    const creds = logins.get(registryOf(ref));
    if (creds) [body.username, body.password] = creds;
    if (pullForm.username.value) { body.username = pullForm.username.value; body.password = pullForm.password.value; }
    const button = pullForm.querySelector("button[type=submit]");
    button.disabled = true; // one pull at a time from this form
    pullForm.image.removeAttribute("aria-invalid");
    dw.showStatus(pullStatus, "pulling…", "busy");
    let failed;
    try {
      failed = await progress("/api/images/pull/", body, pullLog);
    } catch (err) {
      failed = err.message;
    } finally {
      button.disabled = false;
    }
    if (failed) { // the reference is what failed: marked, and described by the message
      pullForm.image.setAttribute("aria-invalid", "true");
      dw.showStatus(pullStatus, "failed: " + failed, "error");
    } else dw.showStatus(pullStatus, "pulled", "ok");
    reload();
  });
  pullForm.image.setAttribute("aria-describedby", "pull-status");
  pullForm.image.addEventListener("input", () => pullForm.image.removeAttribute("aria-invalid"));

  render();
})();
