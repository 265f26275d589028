/* Networks page: create and remove user networks through /api/networks/; reloads after each. */
"use strict";

(() => {
  const form = document.getElementById("network-form");
  const fail = (r) => dw.toast(dw.errorText(r), "error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { name: form.name.value.trim(), subnet: form.subnet.value.trim(),
                   gateway: form.gateway.value.trim() };
    const r = await dw.api("POST", "/api/networks/", body);
    r.ok ? location.reload() : fail(r);
  });
  for (const button of document.querySelectorAll("#networks button[data-remove]")) {
    button.addEventListener("click", async () => {
      const name = button.closest("tr").dataset.name;
      button.disabled = true;
      const r = await dw.api("DELETE", "/api/networks/" + encodeURIComponent(name) + "/");
      if (r.ok) location.reload(); else { fail(r); button.disabled = false; }
    });
  }
})();
