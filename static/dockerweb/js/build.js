/* Images page, build form: POST /api/images/build/ (the Dockerfile's text and an optional
   context tar as multipart), Docker's JSON progress lines shown as they come. An empty
   Dockerfile field with a context uses the context's own Dockerfile. */
"use strict";

(() => {
  const form = document.getElementById("build-form");
  const log = document.getElementById("build-log");
  const status = document.getElementById("build-status");
  const button = form.querySelector("button[type=submit]");
  const show = (text, kind) => dw.showStatus(status, text, kind); // a failure is an error, not grey
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = new FormData();
    if (form.dockerfile.value.trim()) body.append("dockerfile", form.dockerfile.value);
    if (form.context.files[0]) body.append("context", form.context.files[0]);
    if (form.t.value.trim()) body.append("t", form.t.value.trim());
    if (form.nocache.checked) body.append("nocache", "1");
    show("building…", "busy");
    button.disabled = true; // one build at a time from this form
    log.hidden = false;
    log.textContent = "";
    try {
      const res = await fetch("/api/images/build/", { method: "POST", credentials: "same-origin",
        headers: { "X-CSRFToken": dw.cookie("csrftoken") }, body });
      if (!res.ok) {
        let msg = "HTTP " + res.status;
        try { msg = (await res.json()).message || msg; } catch (err) { /* not JSON */ }
        show("failed: " + msg, "error");
        return;
      }
      let failed = "";
      let built = "";
      await dw.jsonLines(res, (m) => {
        if (m.error) { failed = m.error; log.textContent += "error: " + m.error + "\n"; return; }
        if (m.aux && m.aux.ID) built = m.aux.ID;
        if (m.stream) log.textContent += m.stream;
      }, () => { log.scrollTop = log.scrollHeight; });
      if (failed) show("failed: " + failed, "error");
      else show("built " + built.replace("sha256:", "").slice(0, 12), "ok");
    } catch (err) {
      show("failed: " + err.message, "error");
    } finally {
      button.disabled = false;
    }
  });
})();
