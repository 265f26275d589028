/* Containers page: the list (kept live by /ws/events/, no polling; rows are patched in place so
   keyboard focus and selection stay), row and bulk actions with immediate feedback, and the
   create form with every run option and per-field errors. */
"use strict";

(() => {
  const { api, el, toast, errorText, statusText, containerAction, actingText } = dw;
  const tbody = document.querySelector("#containers tbody");
  const showAll = document.getElementById("show-all");
  const selectAll = document.getElementById("select-all");
  const rows = new Map(); // id -> {c: inspect document, tr, acting: action or null}
  const selected = new Set();

  const ACTIONS = [
    ["start", null], ["stop", "Stop container {name}?"], ["restart", "Restart container {name}?"],
    ["kill", "Kill container {name} (SIGKILL)?"], ["remove", "Remove container {name} and its files?"],
  ];
  const ACTIVE = ["running", "starting", "stopping", "restarting"];

  /** Whether `action` makes sense for `c` now (others are disabled). */
  function allowed(c, action) {
    if (action === "start") return !c.state.running;
    if (["stop", "kill", "restart"].includes(action)) return c.state.running;
    return true;
  }

  function visible(c) {
    return showAll.checked || ACTIVE.includes(c.state.status);
  }

  // ---- rows: built once per container, then patched ---------------------------------------
  function build(id) {
    const cells = {
      select: el("input", { type: "checkbox", class: "select", onchange: (e) => toggle(id, e.target.checked) }),
      name: el("a", { href: "/containers/" + id + "/" }),
      image: el("td", { class: "image", "data-label": "Image" }),
      cmd: el("td", { class: "cmd", "data-label": "Command" }),
      ports: el("td", { class: "ports", "data-label": "Ports" }),
      ip: el("td", { class: "ip", "data-label": "IP" }),
      badge: el("span", { class: "badge" }),
      status: el("td", { class: "status", "data-label": "Status" }),
      buttons: {},
    };
    const actions = el("td", { class: "actions" });
    for (const [a, q] of ACTIONS) {
      const b = el("button", { type: "button", class: "small" + (a === "kill" || a === "remove" ? " danger" : ""),
        "data-action": a, onclick: () => act(id, a, q) }, a);
      cells.buttons[a] = b;
      actions.append(b);
    }
    const tr = el("tr", { "data-id": id },
      el("td", { class: "select-cell" }, cells.select),
      el("th", { scope: "row", class: "name" }, cells.name),
      cells.image, cells.cmd, cells.ports, cells.ip,
      el("td", { class: "state", "data-label": "State" }, cells.badge), cells.status, actions);
    tr.cells_ = cells;
    return tr;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  /** Bring a row up to date with its record, touching only what changed. */
  function patch(entry) {
    const { c, tr, acting } = entry;
    const cells = tr.cells_;
    tr.dataset.name = c.name;
    setText(cells.name, c.name);
    cells.select.setAttribute("aria-label", "Select " + c.name);
    cells.select.checked = selected.has(c.id);
    setText(cells.image, c.image);
    const argv = [...(c.config.entrypoint || []), ...(c.config.cmd || [])];
    const cmd = dw.shellJoin(argv);
    setText(cells.cmd, cmd);
    cells.cmd.title = cmd;
    const ports = dw.publishedPorts(c);
    const portKey = ports.map((p) => p.text).join(",");
    if (cells.ports.dataset.key !== portKey) {
      cells.ports.dataset.key = portKey;
      cells.ports.replaceChildren(...ports.flatMap((p, i) => [i ? ", " : "",
        p.href ? el("a", { href: p.href, target: "_blank", rel: "noopener", text: p.text }) : p.text]));
    }
    setText(cells.ip, (c.network_settings && c.network_settings.ip) || "");
    const shown = c.state.restarting ? "restarting" : c.state.status;
    setText(cells.badge, acting ? actingText(acting) : shown);
    cells.badge.className = "badge " + (acting ? "busy" : shown);
    setText(cells.status, acting ? actingText(acting) : statusText(c));
    tr.setAttribute("aria-busy", acting ? "true" : "false");
    for (const [a, b] of Object.entries(cells.buttons)) {
      const off = !!acting || !allowed(c, a);
      if (b.disabled !== off) b.disabled = off;
    }
  }

  /** Rows in order (newest first); existing rows are moved only when their place changed. */
  function render() {
    const list = [...rows.values()].filter((e) => visible(e.c))
      .sort((a, b) => (a.c.created < b.c.created ? 1 : a.c.created > b.c.created ? -1 : 0));
    let prev = null;
    for (const e of list) {
      patch(e);
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== e.tr) tbody.insertBefore(e.tr, want);
      prev = e.tr;
    }
    const shown = new Set(list.map((e) => e.tr));
    for (const tr of [...tbody.children]) if (!shown.has(tr)) tr.remove();
    document.getElementById("no-containers").hidden = rows.size > 0;
    renderBulk();
  }

  function put(c) {
    const entry = rows.get(c.id) || { tr: build(c.id), acting: null };
    entry.c = c;
    rows.set(c.id, entry);
  }

  function drop(id) {
    rows.delete(id);
    selected.delete(id);
  }

  // ---- actions -----------------------------------------------------------------------------
  async function act(id, action, question, quiet) {
    const entry = rows.get(id);
    if (!entry) return null;
    const r = await containerAction(id, action, question && question.replace("{name}", entry.c.name), () => {
      entry.acting = action;
      patch(entry);
    }, { name: entry.c.name, quiet });
    entry.acting = null;
    if (r && r.ok && action === "remove") { drop(id); render(); return r; }
    if (r) await refresh(id);
    else patch(entry);
    return r;
  }

  async function refresh(id) {
    const r = await api("GET", "/api/containers/" + id + "/");
    if (r.ok) put(r.data);
    else if (r.status === 404) drop(id);
    render();
  }

  // ---- selection and bulk actions --------------------------------------------------------
  function toggle(id, on) {
    if (on) selected.add(id); else selected.delete(id);
    renderBulk();
  }

  function renderBulk() {
    for (const id of [...selected]) if (!rows.has(id)) selected.delete(id);
    const chosen = [...selected].map((id) => rows.get(id).c);
    setText(document.getElementById("bulk-count"), chosen.length ? chosen.length + " selected" : "none selected");
    for (const b of document.querySelectorAll("#bulk [data-bulk]")) {
      b.disabled = !chosen.some((c) => allowed(c, b.dataset.bulk) && !rows.get(c.id).acting);
    }
    const shownIds = [...tbody.children].map((tr) => tr.dataset.id);
    const n = shownIds.filter((id) => selected.has(id)).length;
    selectAll.checked = n > 0 && n === shownIds.length;
    selectAll.indeterminate = n > 0 && n < shownIds.length;
  }

  selectAll.addEventListener("change", () => {
    for (const tr of tbody.children) toggle(tr.dataset.id, selectAll.checked);
    render();
  });

  for (const b of document.querySelectorAll("#bulk [data-bulk]")) {
    b.addEventListener("click", async () => {
      const action = b.dataset.bulk;
      const targets = [...selected].map((id) => rows.get(id)).filter((e) => e && allowed(e.c, action) && !e.acting);
      if (!targets.length) return;
      if (action !== "start" && !(await dw.confirmDialog(
        action.charAt(0).toUpperCase() + action.slice(1) + " " + targets.length + " container(s): " +
        targets.map((e) => e.c.name).join(", ") + "?", action.charAt(0).toUpperCase() + action.slice(1)))) return;
      const n = targets.length + " container" + (targets.length === 1 ? "" : "s");
      dw.announce(dw.actingText(action).replace("…", " ") + n + "…"); // once for all of them
      const answers = await Promise.all(targets.map((e) => act(e.c.id, action, null, true)));
      const failed = answers.filter((r) => r && !r.ok && r.status !== 304).length;
      dw.announce(failed ? failed + " of " + n + " failed to " + action : n + " " + dw.doneText(action));
    });
  }

  // ---- live ----------------------------------------------------------------------------------
  const pending = new Map();
  function onEvent(ev) {
    if (ev.type !== "container") return;
    if (ev.action === "destroy") { drop(ev.actor_id); render(); return; }
    clearTimeout(pending.get(ev.actor_id)); // a burst of events, one fetch
    pending.set(ev.actor_id, setTimeout(() => refresh(ev.actor_id), 30));
  }
  // "Up 3 minutes" ages: the status column is re-rendered every 20 s
  setInterval(() => { for (const e of rows.values()) if (e.tr.isConnected) patch(e); }, 20000);

  // ---- create form ---------------------------------------------------------------------
  const form = document.getElementById("create-form");
  const errorEl = document.getElementById("create-error");
  const FIELD_OF = { nano_cpus: "cpus", log_opts: "log_max_size" }; // API field -> form field

  class FieldError extends Error {
    constructor(field, message) { super(message); this.field = field; }
  }

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
    if (!b.image) throw new FieldError("image", "an image is required");
    for (const k of ["cmd", "entrypoint"]) if (f.get(k).trim()) b[k] = f.get(k).trim();
    for (const k of ["name", "hostname", "user", "working_dir"]) if (f.get(k).trim()) b[k] = f.get(k).trim();
    if (f.get("memory").trim()) {
      b.memory = bytes(f.get("memory"));
      if (isNaN(b.memory)) throw new FieldError("memory", "use a size such as 64m or 1g");
    }
    if (f.get("cpus").trim()) {
      const cpus = Number(f.get("cpus").trim());
      if (!(cpus > 0)) throw new FieldError("cpus", "use a number of CPUs such as 0.5 or 2");
      b.nano_cpus = Math.round(cpus * 1e9);
    }
    if (f.get("pids_limit").trim()) {
      const n = Number(f.get("pids_limit").trim());
      if (!Number.isInteger(n) || n < -1) throw new FieldError("pids_limit", "a whole number, or -1 for no limit");
      b.pids_limit = n;
    }
    b.env = lines(f.get("env"), /\n/);
    b.ports = lines(f.get("ports"), /[,\s]+/);
    b.labels = {};
    for (const line of lines(f.get("labels"), /\n/)) {
      const eq = line.indexOf("=");
      if (eq <= 0) throw new FieldError("labels", "one key=value per line: " + line);
      b.labels[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
    b.network_mode = f.get("network_mode");
    b.tty = form.tty.checked;
    b.open_stdin = form.open_stdin.checked;
    b.auto_remove = form.auto_remove.checked;
    b.volumes = lines(f.get("volumes"), /,\s*/);
    b.restart_policy = f.get("restart_policy") || "no";
    more(f, b);
    return b;
  }

  /** The "More options" fields into body `b` (blank ones left out: the API's defaults). */
  function more(f, b) {
    const whole = (name, min, max, hint) => {
      const text = f.get(name).trim();
      if (!text) return;
      const n = Number(text);
      if (!Number.isInteger(n) || n < min || (max !== undefined && n > max)) throw new FieldError(name, hint);
      b[name] = n;
    };
    whole("stop_timeout", -1, undefined, "whole seconds, or -1 to wait forever");
    whole("restart_max_retries", 0, undefined, "a whole number, 0 or more");
    whole("memory_swappiness", 0, 100, "a whole number from 0 to 100");
    whole("cpu_shares", 0, undefined, "a whole number, such as 512 or 1024");
    whole("cpu_period", 0, undefined, "microseconds, such as 100000");
    whole("cpu_quota", -1, undefined, "microseconds, or -1 for none");
    const swap = f.get("memory_swap").trim();
    if (swap) {
      b.memory_swap = swap === "-1" ? -1 : bytes(swap);
      if (isNaN(b.memory_swap)) throw new FieldError("memory_swap", "use a size such as 128m, or -1");
    }
    for (const k of ["cap_add", "cap_drop"]) {
      const caps = lines(f.get(k), /[,\s]+/);
      if (caps.length) b[k] = caps;
    }
    b.log_driver = f.get("log_driver") || "json-file";
    const opts = {};
    if (f.get("log_max_size").trim()) opts["max-size"] = f.get("log_max_size").trim();
    if (f.get("log_max_file").trim()) opts["max-file"] = f.get("log_max_file").trim();
    if (Object.keys(opts).length) b.log_opts = opts;
    const nets = lines(f.get("networks"), /[,\s]+/);
    if (nets.length) b.networks = Object.fromEntries(nets.map((n) => [n, []]));
    if (f.get("host").trim()) b.host = f.get("host").trim();
    const tmpfs = {};
    for (const line of lines(f.get("tmpfs"), /\n/)) {
      const colon = line.indexOf(":");
      const path = colon < 0 ? line : line.slice(0, colon);
      if (!path.startsWith("/")) throw new FieldError("tmpfs", "an absolute path, then :options: " + line);
      tmpfs[path] = colon < 0 ? "" : line.slice(colon + 1);
    }
    if (Object.keys(tmpfs).length) b.tmpfs = tmpfs;
    b.privileged = form.privileged.checked;
    b.stdin_once = form.stdin_once.checked;
  }

  const clearErrors = () => dw.clearFieldErrors(form, errorEl);
  const showErrors = (byField, general) => dw.showFieldErrors(form, errorEl, byField, general, FIELD_OF);

  /** Which field a server error without per-field detail is about, from its message. */
  function fieldOfMessage(r) {
    const msg = errorText(r);
    if (/^No such image/i.test(msg) || /image/i.test(msg) && r.status === 404) return "image";
    if (/container name/i.test(msg)) return "name";
    if (/^(invalid )?port/i.test(msg) || /port spec/i.test(msg)) return "ports";
    if (/^memory/i.test(msg)) return "memory";
    if (/^(working.?dir)/i.test(msg)) return "working_dir";
    if (/^user/i.test(msg)) return "user";
    if (/^(env|environment)/i.test(msg)) return "env";
    return null;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors();
    let b;
    try { b = body(); } catch (err) {
      if (err instanceof FieldError) showErrors({ [err.field]: err.message }, []);
      else showErrors({}, [err.message]);
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = "Creating…";
    try {
      const r = await api("POST", "/api/containers/", b);
      if (!r.ok) {
        if (r.data && r.data.errors) showErrors(r.data.errors, []);
        else {
          const field = fieldOfMessage(r);
          if (field) showErrors({ [field]: errorText(r) }, []);
          else showErrors({}, [errorText(r)]);
        }
        return;
      }
      put(r.data);
      render();
      if (form.start.checked) {
        const s = await api("POST", "/api/containers/" + r.data.id + "/start/");
        if (!s.ok) { toast("start failed: " + errorText(s), "error"); return; }
      }
      location.href = "/containers/" + r.data.id + "/";
    } finally {
      button.disabled = false;
      button.textContent = "Create";
    }
  });
  dw.watchFieldErrors(form);

  // ---- start ----------------------------------------------------------------------------
  const tags = document.getElementById("image-tags");
  for (const img of dw.initial.images || []) {
    for (const t of img.repo_tags) tags.append(el("option", { value: t }));
  }
  for (const c of dw.initial.containers || []) put(c);
  showAll.addEventListener("change", render);
  render();
  window.dwContainers = { rows, selected }; // for tests and the curious
  new dw.EventStream(onEvent, { since: dw.initial.since, indicator: document.getElementById("live-status") });
})();
