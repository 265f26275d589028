/* Images page: the list, history / tag / remove per image and an archive import with an
   upload progress bar. Tag, history, remove and import belong to the images issue: until
   their endpoints exist, a 404 is reported, not treated as an error. */
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
    const [repo, t] = ref.split(":");
    const r = await api("POST", "/api/images/" + img.id + "/tag/?repo=" + encodeURIComponent(repo) +
      "&tag=" + encodeURIComponent(t || "latest"));
    if (r.ok) { toast("tagged " + ref); reload(); } else toast("tag: " + errorText(r), "error");
  }

  async function remove(img) {
    if (!(await confirmDialog("Remove image " + (img.repo_tags[0] || img.id.slice(0, 12)) + "?", "Remove"))) return;
    const r = await api("DELETE", "/api/images/" + img.id + "/");
    if (r.ok) { toast("removed"); reload(); } else toast("remove: " + errorText(r), "error");
  }

  // import: XHR for its upload progress events
  const form = document.getElementById("import-form");
  const bar = document.getElementById("import-progress");
  const status = document.getElementById("import-status");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = form.file.files[0];
    if (!file) return;
    const [repo, t] = (form.repo.value || "").split(":");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/images/import/?repo=" + encodeURIComponent(repo || "") + "&tag=" +
      encodeURIComponent(t || "latest"));
    xhr.setRequestHeader("X-CSRFToken", (document.cookie.match(/csrftoken=([^;]*)/) || [])[1] || "");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    bar.hidden = false;
    bar.value = 0;
    status.textContent = "uploading…";
    xhr.upload.onprogress = (p) => { if (p.lengthComputable) bar.value = (100 * p.loaded) / p.total; };
    xhr.onload = () => {
      bar.value = 100;
      if (xhr.status >= 200 && xhr.status < 300) { status.textContent = "imported"; reload(); }
      else status.textContent = xhr.status === 404 ? "import is not available yet (404)" : "import failed: HTTP " + xhr.status;
    };
    xhr.onerror = () => { status.textContent = "import failed: network error"; };
    xhr.send(file);
  });

  render();
})();
