/* Volumes page: create, remove, prune through /api/volumes/; the page reloads after each. */
"use strict";

(() => {
  const form = document.getElementById("volume-form");
  const fail = (r) => dw.toast(dw.errorText(r), "error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await dw.api("POST", "/api/volumes/", { name: form.name.value.trim() });
    r.ok ? location.reload() : fail(r);
  });
  document.getElementById("volume-prune").addEventListener("click", async () => {
    const r = await dw.api("POST", "/api/volumes/prune/", {});
    r.ok ? location.reload() : fail(r);
  });
  for (const button of document.querySelectorAll("#volumes button[data-remove]")) {
    button.addEventListener("click", async () => {
      const name = button.closest("tr").dataset.name;
      button.disabled = true;
      const r = await dw.api("DELETE", "/api/volumes/" + encodeURIComponent(name) + "/");
      if (r.ok) location.reload(); else { fail(r); button.disabled = false; }
    });
  }
})();
