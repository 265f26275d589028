/* Pages that list one kind of object (volumes, networks) and reload after each change:
   - a form with data-create="<api url>" POSTs its fields (as strings, blank ones left out);
   - a button with data-post="<api url>" POSTs {} (e.g. prune);
   - a button with data-remove in a row of a table with data-api="<api url>" DELETEs
     <api url><the row's data-name>/.
   Failures are error toasts with the server's message. */
"use strict";

(() => {
  const fail = (r) => dw.toast(dw.errorText(r), "error");
  const done = (r) => (r.ok ? location.reload() : fail(r));
  for (const form of document.querySelectorAll("form[data-create]")) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = {};
      for (const [k, v] of new FormData(form)) if (String(v).trim()) body[k] = String(v).trim();
      done(await dw.api("POST", form.dataset.create, body));
    });
  }
  for (const button of document.querySelectorAll("button[data-post]")) {
    button.addEventListener("click", async () => done(await dw.api("POST", button.dataset.post, {})));
  }
  for (const button of document.querySelectorAll("table[data-api] button[data-remove]")) {
    button.addEventListener("click", async () => {
      const api = button.closest("table").dataset.api;
      button.disabled = true;
      const r = await dw.api("DELETE", api + encodeURIComponent(button.closest("tr").dataset.name) + "/");
      if (r.ok) location.reload(); else { fail(r); button.disabled = false; }
    });
  }
})();
