/* Events page: the recent events, then new ones live from /ws/events/. */
"use strict";

(() => {
  const { el, fmtTime } = dw;
  const tbody = document.querySelector("#events tbody");
  const MAX_ROWS = 1000;

  function row(ev) {
    const actor = ev.type === "container" && ev.action !== "destroy"
      ? el("a", { href: "/containers/" + ev.actor_id + "/", text: ev.actor_name || ev.actor_id.slice(0, 12) })
      : el("span", { text: ev.actor_name || ev.actor_id.slice(0, 12) });
    const attrs = Object.entries(ev.attributes || {}).map(([k, v]) => k + "=" + v).join(" ");
    return el("tr", { "data-seq": ev.seq }, el("td", { text: ev.seq }), el("td", { text: fmtTime(ev.time) }),
      el("td", { text: ev.type }), el("td", {}, el("strong", { text: ev.action })), el("td", {}, actor),
      el("td", { class: "attrs", text: attrs }));
  }

  const initial = dw.initial.events || [];
  tbody.replaceChildren(...initial.slice().reverse().map(row)); // newest first
  const since = initial.length ? initial[initial.length - 1].seq : 0;
  new dw.EventStream((ev) => {
    tbody.prepend(row(ev));
    while (tbody.children.length > MAX_ROWS) tbody.lastChild.remove();
  }, { since, indicator: document.getElementById("live-status") });
})();
