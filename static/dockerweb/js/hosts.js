/* Hosts page: staff drain and resume a host (POST /api/hosts/<name>/drain/), then reload. */
"use strict";

(() => {
  for (const button of document.querySelectorAll("#hosts button[data-drain]")) {
    button.addEventListener("click", async () => {
      const name = button.closest("tr").dataset.host;
      const draining = button.dataset.drain === "true";
      button.disabled = true;
      button.textContent = draining ? "draining…" : "resuming…";
      const r = await dw.api("POST", "/api/hosts/" + encodeURIComponent(name) + "/drain/", { draining });
      if (r.ok) {
        location.reload();
      } else {
        dw.toast(dw.errorText(r), "error");
        button.disabled = false;
        button.textContent = draining ? "Drain" : "Resume";
      }
    });
  }
})();
