/* Pages that list one kind of object (volumes, networks) and reload after each change:
   - a form with data-create="<api url>" POSTs its fields (as strings, blank ones left out);
   - a button with data-post="<api url>" POSTs {} (e.g. prune);
   - a button with data-remove in a row of a table with data-api="<api url>" DELETEs
     <api url><the row's data-name>/.
   A create form's failure is shown per field (dw.showFieldErrors) with a summary in its
   .form-error line (role=alert); other failures are error toasts with the server's message. */
"use strict";

(() => {
  const fail = (r) => dw.toast(dw.errorText(r), "error");
  const done = (r) => (r.ok ? location.reload() : fail(r));
  for (const form of document.querySelectorAll("form[data-create]")) {
    // errors: per field when the server names the field (marked invalid, its message in its
    // slot), with a summary in the form's role=alert line; else that line alone
    const summary = form.querySelector(".form-error");
    dw.watchFieldErrors(form);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      dw.clearFieldErrors(form, summary);
      const body = {};
      for (const [k, v] of new FormData(form)) if (String(v).trim()) body[k] = String(v).trim();
      const r = await dw.api("POST", form.dataset.create, body);
      if (r.ok) { location.reload(); return; }
      if (r.data && r.data.errors && typeof r.data.errors === "object") dw.showFieldErrors(form, summary, r.data.errors, []);
      else {
        const msg = dw.errorText(r), field = fieldOf(form, msg);
        dw.showFieldErrors(form, summary, field ? { [field]: msg } : {}, field ? [] : [msg]);
      }
    });
  }

  /** The field a message is about: the form's field whose name it says first, as a word
      ("invalid subnet …", "a gateway needs a subnet" → gateway); null: about the whole form. */
  function fieldOf(form, msg) {
    let best = null, at = Infinity;
    for (const e of form.elements) {
      const m = e.name && new RegExp("\\b" + e.name + "\\b", "i").exec(msg);
      if (m && m.index < at) { best = e.name; at = m.index; }
    }
    return best;
  }
  for (const button of document.querySelectorAll("button[data-post]")) {
    button.addEventListener("click", async () => {
      button.disabled = true; // feedback at once, said too
      dw.announce(button.textContent.trim() + "…");
      const r = await dw.api("POST", button.dataset.post, {});
      if (!r.ok) button.disabled = false;
      done(r);
    });
  }
  for (const button of document.querySelectorAll("table[data-api] button[data-remove]")) {
    button.addEventListener("click", async () => {
      const api = button.closest("table").dataset.api;
      const name = button.closest("tr").dataset.name;
      button.disabled = true;
      dw.announce("removing " + name + "…");
      const r = await dw.api("DELETE", api + encodeURIComponent(name) + "/");
      if (r.ok) location.reload(); else { fail(r); button.disabled = false; }
    });
  }
})();
