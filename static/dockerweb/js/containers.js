/* Containers page: the list (kept live by /ws/events/, no polling), row actions and the
   create form with every run option. */
"use strict";

(() => {
  const { api, el, toast, errorText, statusText, containerAction } = dw;
  const tbody = document.querySelector("#containers tbody");
  const showAll = document.getElementById("show-all");
  const rows = new Map(); // id -> inspect document

  const ACTIONS = [
    ["start", null], ["stop", "Stop container {name}?"], ["restart", "Restart container {name}?"],
    ["kill", "Kill container {name} (SIGKILL)?"], ["remove", "Remove container {name} and its files?"],
  ];

  function render() {
    const list = [...rows.values()]
      .filter((c) => showAll.checked || ["running", "starting", "stopping"].includes(c.state.status))
      .sort((a, b) => (a.created < b.created ? 1 : -1));
    tbody.replaceChildren(...list.map(row));
    document.getElementById("no-containers").hidden = rows.size > 0;
  }

  function row(c) {
    const cmd = (c.config.cmd && c.config.cmd.length ? c.config.cmd : c.config.entrypoint || []).join(" ");
    const actions = el("td", { class: "actions" }, ...ACTIONS.map(([a, q]) => el("button", {
      class: "small" + (a === "kill" || a === "remove" ? " danger" : ""), "data-action": a,
      disabled: (a === "start" && c.state.running) || (["stop", "kill", "restart"].includes(a) && !c.state.running
        && !(a === "stop" && c.state.restarting)), // stop ends a restart policy's back-off
      onclick: () => act(c, a, q),
    }, a)));
    return el("tr", { "data-id": c.id, "data-name": c.name },
      el("td", {}, el("a", { href: "/containers/" + c.id + "/" }, c.name)),
      el("td", { text: c.image }),
      el("td", { class: "cmd", title: cmd, text: cmd }),
      el("td", {}, el("span", { class: "badge " + c.state.status,
        text: c.state.restarting ? "restarting" : c.state.status })),
      el("td", { class: "status", text: statusText(c) }),
      actions);
  }

  async function act(c, action, question) {
    const r = await containerAction(c.id, action, question && question.replace("{name}", c.name));
    if (r && r.ok) refresh(c.id);
  }

  async function refresh(id) {
    const r = await api("GET", "/api/containers/" + id + "/");
    if (r.ok) rows.set(id, r.data);
    else if (r.status === 404) rows.delete(id);
    render();
  }

  const pending = new Map();
  function onEvent(ev) {
    if (ev.type !== "container") return;
    if (ev.action === "destroy") { rows.delete(ev.actor_id); render(); return; }
    clearTimeout(pending.get(ev.actor_id)); // a burst of events, one fetch
    pending.set(ev.actor_id, setTimeout(() => refresh(ev.actor_id), 30));
  }

  // ---- create form --------------------------------------------------------------------
  const form = document.getElementById("create-form");
  const errorEl = document.getElementById("create-error");

  function bytes(text) {
    const m = String(text).trim().toLowerCase().match(/^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/);
    if (!m) return NaN;
    return Math.round(parseFloat(m[1]) * Math.pow(1024, " kmgt".indexOf(m[2] || " ")));
  }

  function lines(text, sep) {
    return text.split(sep).map((s) => s.trim()).filter(Boolean);
  }

  function body() {
    const f = new FormData(form);
    const b = { image: f.get("image").trim() };
    if (f.get("cmd").trim()) b.cmd = f.get("cmd").trim();
    for (const k of ["name", "hostname", "user", "working_dir"]) if (f.get(k).trim()) b[k] = f.get(k).trim();
    if (f.get("memory").trim()) {
      b.memory = bytes(f.get("memory"));
      if (isNaN(b.memory)) throw new Error("memory: use a size such as 64m or 1g");
    }
    b.env = lines(f.get("env"), /\n/);
    b.ports = lines(f.get("ports"), /[,\s]+/);
    b.volumes = lines(f.get("volumes"), /,\s*/);
    b.tty = form.tty.checked;
    b.open_stdin = form.open_stdin.checked;
    b.restart_policy = f.get("restart_policy") || "no";
    return b;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    errorEl.textContent = "";
    let b;
    try { b = body(); } catch (err) { errorEl.textContent = err.message; return; }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const r = await api("POST", "/api/containers/", b);
      if (!r.ok) { errorEl.textContent = errorText(r); return; }
      rows.set(r.data.id, r.data);
      render();
      if (form.start.checked) {
        const s = await api("POST", "/api/containers/" + r.data.id + "/start/");
        if (!s.ok) { toast("start failed: " + errorText(s), "error"); return; }
      }
      location.href = "/containers/" + r.data.id + "/";
    } finally {
      button.disabled = false;
    }
  });

  // ---- start ----------------------------------------------------------------------------
  const tags = document.getElementById("image-tags");
  for (const img of dw.initial.images || []) {
    for (const t of img.repo_tags) tags.append(el("option", { value: t }));
  }
  for (const c of dw.initial.containers || []) rows.set(c.id, c);
  showAll.addEventListener("change", render);
  render();
  new dw.EventStream(onEvent, { since: dw.initial.since, indicator: document.getElementById("live-status") });
})();
