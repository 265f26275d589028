/* Container page: state and exit info, actions, terminal (attach), exec shell, logs
   viewer, stats charts (the kept hour, then live: CPU, memory, network, block I/O, with a
   table alternative), inspect JSON and filesystem actions. Kept current by the event
   stream; no polling. */
"use strict";

(() => {
  const { api, el, toast, errorText, fmtTime, containerAction, actingText } = dw;
  let c = dw.initial.container;
  const id = c.id;
  let acting = null; // the action under way: its buttons stay disabled until it ends

  // ---- state ------------------------------------------------------------------------------
  function renderState() {
    const st = c.state;
    document.getElementById("c-name").textContent = c.name;
    const badge = document.getElementById("c-state");
    badge.textContent = acting ? actingText(acting) : st.status;
    badge.className = "badge " + (acting ? "busy" : st.status);
    const argv = [...(c.config.entrypoint || []), ...(c.config.cmd || [])];
    const cmd = argv.length ? dw.shellJoin(argv) : "(image default)";
    const facts = [
      ["Image", c.image], ["Command", cmd], ["Created", fmtTime(c.created)],
      ["Started", fmtTime(st.started_at)], ["Finished", fmtTime(st.finished_at)],
      ["Status", dw.statusText(c)], ["Hostname", c.hostname],
      ["IP", (c.network_settings && c.network_settings.ip) || ""], ["TTY / stdin", (c.config.tty ? "tty" : "no tty") + " / " +
        (c.config.open_stdin ? "open" : "closed")], ["Restarts", String(c.restart_count)],
    ];
    if (st.pid) facts.push(["PID", String(st.pid)]);
    document.getElementById("c-facts").replaceChildren(...facts.filter(([, v]) => v)
      .flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
    const exit = document.getElementById("c-exit");
    const ended = st.status === "exited" || st.status === "dead";
    exit.hidden = !ended && !st.error;
    exit.className = "exit-info" + (st.exit_code || st.oom_killed || st.error ? " bad" : "");
    const parts = [];
    if (st.exit_code !== null && st.exit_code !== undefined) parts.push(el("span", { text: "Exit code " + st.exit_code }));
    if (st.signal) parts.push(el("span", { text: " · signal " + st.signal }));
    if (st.oom_killed) parts.push(el("strong", { text: " · killed: out of memory" }));
    if (st.error) parts.push(el("div", { class: "error", text: st.error }));
    exit.replaceChildren(...parts);
    for (const b of document.querySelectorAll("#c-actions button")) {
      const a = b.dataset.action;
      b.disabled = !!acting || (a === "start" && st.running) || (["stop", "kill", "restart"].includes(a) && !st.running);
    }
    const ports = dw.publishedPorts(c);
    const portsEl = document.getElementById("c-ports");
    portsEl.hidden = !ports.length;
    portsEl.replaceChildren(...(ports.length ? [el("span", { class: "muted", text: "Ports: " })] : []),
      ...ports.flatMap((p, i) => [i ? ", " : "",
        p.href ? el("a", { href: p.href, target: "_blank", rel: "noopener", text: p.text }) : p.text]));
    document.getElementById("exec-shell").disabled = st.status !== "running";
    document.getElementById("inspect-json").textContent = JSON.stringify(c, null, 2);
  }

  async function refresh() {
    const r = await api("GET", "/api/containers/" + id + "/");
    if (r.ok) { c = r.data; renderState(); }
  }

  for (const b of document.querySelectorAll("#c-actions button")) {
    b.addEventListener("click", async () => {
      const action = b.dataset.action;
      const r = await containerAction(id, action, b.dataset.confirm, () => { acting = action; renderState(); }, { name: c.name });
      acting = null;
      if (r && r.ok && action === "remove") { location.href = "/"; return; }
      if (r) await refresh();
      else renderState();
      b.focus(); // focus stays where the user acted
    });
  }

  // ---- tabs (WAI-ARIA tabs: one tab stop, arrow keys, Home/End) ----------------------------
  const shown = new Set(["terminal"]);
  const onShow = { logs: startLogs, stats: startStats };
  const tabs = [...document.querySelectorAll("[role=tab]")];
  function selectTab(t, focus) {
    for (const o of tabs) {
      o.setAttribute("aria-selected", o === t ? "true" : "false");
      o.tabIndex = o === t ? 0 : -1;
    }
    for (const p of document.querySelectorAll(".tab")) p.hidden = p.id !== "tab-" + t.dataset.tab;
    if (focus) t.focus();
    t.scrollIntoView({ block: "nearest", inline: "nearest" });
    if (!shown.has(t.dataset.tab) && onShow[t.dataset.tab]) onShow[t.dataset.tab]();
    shown.add(t.dataset.tab);
    if (t.dataset.tab === "terminal") { terminal.refit(); if (execTerm) execTerm.refit(); }
    if (t.dataset.tab === "logs") logs.schedule();
  }
  for (const t of tabs) {
    t.addEventListener("click", () => selectTab(t, false));
    t.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(t);
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      selectTab(tabs[(to + tabs.length) % tabs.length], true);
    });
  }

  // ---- terminal ---------------------------------------------------------------------------
  const termStatus = document.getElementById("term-status");
  const terminal = new AttachTerminal(document.getElementById("terminal"), {
    tty: c.config.tty, stdin: c.config.open_stdin,
    onStatus: (text) => {
      const waiting = text === "attached" && !c.state.running ? " (waiting for the container to start)" : "";
      termStatus.textContent = text + waiting;
    },
  });
  window.dwTerminal = terminal; // for tests and the curious
  terminal.connect("/ws/containers/" + id + "/attach/");

  // ---- exec -------------------------------------------------------------------------------
  let execTerm = null;
  const execPanel = document.getElementById("exec-panel");
  document.getElementById("exec-shell").addEventListener("click", async () => {
    if (execTerm) execTerm.dispose();
    const r = await api("POST", "/api/containers/" + id + "/exec/", {
      cmd: ["sh"], tty: true, stdin: true, console_size: [terminal.term.rows, terminal.term.cols],
    });
    if (!r.ok) { toast("exec failed: " + errorText(r), "error"); return; }
    execPanel.hidden = false;
    const status = document.getElementById("exec-status");
    execTerm = new AttachTerminal(document.getElementById("exec-terminal"), {
      tty: true, stdin: true, onStatus: (text) => { status.textContent = text; },
    });
    window.dwExecTerminal = execTerm;
    execTerm.connect("/ws/exec/" + r.data.id + "/");
    execTerm.term.focus();
  });
  document.getElementById("exec-close").addEventListener("click", () => {
    if (execTerm) { execTerm.dispose(); execTerm = null; } // closing ends the shell (its stdin)
    execPanel.hidden = true;
  });

  // ---- logs -------------------------------------------------------------------------------
  const logCount = document.getElementById("log-count");
  const followBox = document.getElementById("log-follow");
  const logs = new LogView(document.getElementById("logview"), {
    onFollow: (on) => { followBox.checked = on; },
    onRender: (n, total) => { logCount.textContent = (logs.query ? n + " of " : "") + total + " lines"; },
  });
  window.dwLogs = logs;
  let logSocket = null;
  let searchTimer = null;
  document.getElementById("log-search").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => logs.search(e.target.value), 150);
  });
  followBox.addEventListener("change", () => logs.setFollow(followBox.checked));
  document.getElementById("log-stamps").addEventListener("change", (e) => logs.setStamps(e.target.checked));
  const download = document.getElementById("log-download");
  download.href = "/api/containers/" + id + "/logs/?timestamps=1";
  download.setAttribute("download", c.name + ".log");
  const downloadStatus = document.getElementById("log-download-status");
  // the download streams (fetch's reader) and shows its progress; the link still works alone
  download.addEventListener("click", async (e) => {
    if (download.dataset.busy) { e.preventDefault(); return; }
    e.preventDefault();
    download.dataset.busy = "1";
    download.setAttribute("aria-disabled", "true");
    dw.showStatus(downloadStatus, "downloading…", "busy");
    try {
      const res = await fetch(download.href, { credentials: "same-origin" });
      if (!res.ok) {
        let msg = "HTTP " + res.status;
        try { msg = (await res.json()).message || msg; } catch (err) { /* not JSON */ }
        dw.showStatus(downloadStatus, "failed: " + msg, "error");
        return;
      }
      const reader = res.body.getReader();
      const parts = [];
      let got = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parts.push(value);
        got += value.length;
        dw.showStatus(downloadStatus, "downloading… " + dw.fmtBytes(got), "busy");
      }
      const url = URL.createObjectURL(new Blob(parts, { type: "text/plain" }));
      const a = el("a", { href: url, download: c.name + ".log", hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      dw.showStatus(downloadStatus, "downloaded " + dw.fmtBytes(got), "ok");
    } catch (err) {
      dw.showStatus(downloadStatus, "failed: " + err.message, "error");
    } finally {
      delete download.dataset.busy;
      download.removeAttribute("aria-disabled");
    }
  });

  const logStreams = document.getElementById("log-streams");
  const logTail = document.getElementById("log-tail");
  const logSince = document.getElementById("log-since");
  const logState = document.getElementById("log-state");

  /** The logs query of the filter controls (stream, tail, since), as URL parameters. */
  function logQuery() {
    const q = new URLSearchParams();
    if (logStreams.value !== "both") { q.set("stdout", logStreams.value === "stdout" ? "1" : "0");
                                       q.set("stderr", logStreams.value === "stderr" ? "1" : "0"); }
    if (logTail.value) q.set("tail", String(Math.max(1, parseInt(logTail.value, 10) || 1)));
    if (logSince.value) {
      const t = new Date(logSince.value); // the browser's local time
      if (!isNaN(t)) q.set("since", String(t.getTime() / 1000));
    }
    return q;
  }

  function startLogs() {
    if (logSocket) { const old = logSocket; logSocket = null; old.close(); }
    logs.clear();
    const q = logQuery();
    download.href = "/api/containers/" + id + "/logs/?timestamps=1" + (q.toString() ? "&" + q : "");
    q.set("follow", "1");
    const ws = new WebSocket(dw.wsURL("/ws/containers/" + id + "/logs/?" + q));
    logSocket = ws;
    logState.textContent = "connecting…";
    ws.onmessage = (m) => {
      if (logSocket !== ws) return;
      const msg = JSON.parse(m.data);
      if (msg.type === "logs") { logs.add(msg.records); logState.textContent = c.state.running ? "live" : ""; }
      else if (msg.type === "end") logState.textContent = "ended: the container is not running";
      else if (msg.type === "error") logState.textContent = "error: " + msg.message;
    };
    ws.onopen = () => { if (logSocket === ws) logState.textContent = c.state.running ? "live" : "ended: the container is not running"; };
    ws.onclose = () => {
      if (logSocket !== ws) return;
      logSocket = null;
      if (!logState.textContent.startsWith("error")) logState.textContent = "ended: the container is not running";
    };
  }
  for (const control of [logStreams, logTail, logSince]) control.addEventListener("change", () => startLogs());

  // ---- stats: the stored last hour, then live readings every second ----------------------
  const series = new StatsSeries(3600 * 1000);
  window.dwStats = series; // for tests and the curious
  const pct = (v) => v.toFixed(v < 10 ? 1 : 0) + " %";
  const rate = (v) => dw.fmtBytes(Math.round(v)) + "/s";
  const BLUE = "#1f6feb", GREEN = "#2f9e44", ORANGE = "#c2410c";
  const charts = [
    new TimeChart(document.getElementById("chart-cpu"), series, { title: "CPU", fmt: pct, floor: 5,
      lines: [{ label: "CPU", color: BLUE, value: (s, i) => s.points[i].cpu }] }),
    new TimeChart(document.getElementById("chart-mem"), series, { title: "Memory", fmt: dw.fmtBytes, floor: 1 << 20,
      extra: (s) => { const p = s.last(); return p && p.limited ? p.limit : 0; },
      lines: [{ label: "working set", color: GREEN, value: (s, i) => s.points[i].mem }] }),
    new TimeChart(document.getElementById("chart-net"), series, { title: "Network", fmt: rate, floor: 1024,
      lines: [{ label: "received", color: BLUE, value: (s, i) => s.rate(i, "rx") },
              { label: "sent", color: ORANGE, dash: [6, 4], value: (s, i) => s.rate(i, "tx") }] }),
    new TimeChart(document.getElementById("chart-blk"), series, { title: "Block I/O", fmt: rate, floor: 1024,
      lines: [{ label: "read", color: BLUE, value: (s, i) => s.rate(i, "rd") },
              { label: "written", color: ORANGE, dash: [6, 4], value: (s, i) => s.rate(i, "wr") }] }),
  ];
  const rangeSelect = document.getElementById("stats-range");
  const tableBox = document.getElementById("stats-table-box");
  let tableAt = 0;
  function drawStats(force) {
    const ms = parseInt(rangeSelect.value, 10) * 1000;
    for (const ch of charts) { ch.rangeMs = ms; ch.draw(); }
    if (tableBox.open && (force || Date.now() - tableAt > 10000)) { // the table: at most every 10 s
      tableAt = Date.now();
      const fmt = (v, f) => (v === null ? "–" : f(v));
      document.querySelector("#stats-table tbody").replaceChildren(...statsTable(series, ms).map((m) =>
        el("tr", {}, el("th", { scope: "row", text: new Date(m.t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) }),
          el("td", { text: fmt(m.cpu, (v) => v.toFixed(1)) }), el("td", { text: fmt(m.mem, dw.fmtBytes) }),
          el("td", { text: fmt(m.rx, rate) }), el("td", { text: fmt(m.tx, rate) }),
          el("td", { text: fmt(m.rd, rate) }), el("td", { text: fmt(m.wr, rate) }))));
    }
  }
  rangeSelect.addEventListener("change", () => drawStats(true));
  tableBox.addEventListener("toggle", () => drawStats(true));

  function showNow(msg) {
    const mem = msg.memory, net = msg.network, blk = msg.blkio;
    document.getElementById("stats-now").textContent =
      "CPU " + (msg.cpu.percent === null ? "–" : msg.cpu.percent.toFixed(1) + " %") +
      " · memory " + dw.fmtBytes(mem.working_set) + (mem.limited ? " of " + dw.fmtBytes(mem.limit) : "") +
      " (max " + dw.fmtBytes(mem.max_usage) + ") · " + msg.pids.current + " processes" +
      " · network received " + dw.fmtBytes(net.rx_bytes) + ", sent " + dw.fmtBytes(net.tx_bytes) +
      " · block I/O read " + dw.fmtBytes(blk.read_bytes) + ", written " + dw.fmtBytes(blk.write_bytes);
  }

  async function startStats() {
    const r = await api("GET", "/api/containers/" + id + "/stats/history/");
    if (r.ok) { for (const doc of r.data.samples) series.add(doc); drawStats(true); }
    const ws = new WebSocket(dw.wsURL("/ws/containers/" + id + "/stats/"));
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type === "stats") {
        series.add(msg);
        showNow(msg);
        drawStats(false);
      } else if (msg.type === "stopped") {
        document.getElementById("stats-now").textContent = "not running" +
          (series.points.length ? " (the charts show what was kept)" : "");
        drawStats(false);
      }
    };
  }

  // ---- filesystem: changes, export, commit (an error answer is shown, not thrown) -----------
  // (a failure is shown as an error: class and icon, not grey text)
  const fsOut = document.getElementById("fs-output");
  const fsShow = (text, failed) => dw.showStatus(fsOut, text, failed ? "error" : null);
  document.getElementById("fs-changes").addEventListener("click", async () => {
    const r = await api("GET", "/api/containers/" + id + "/changes/");
    if (r.ok) fsShow((r.data || []).map((ch) => ["M", "A", "D"][ch.kind] + " " + ch.path).join("\n") || "no changes");
    else fsShow("Changes: " + errorText(r), true);
  });
  document.getElementById("fs-export").addEventListener("click", async () => {
    const url = "/api/containers/" + id + "/export/";
    const r = await fetch(url, { method: "HEAD", credentials: "same-origin" });
    if (r.ok) { location.href = url; return; }
    fsShow("Export: " + errorText(await api("GET", url)), true); // a failed GET is a small JSON message
  });
  document.getElementById("fs-commit").addEventListener("click", async () => {
    const repo = await dw.confirmDialog("Commit this container to an image named:", "Commit",
                                         c.name.toLowerCase() + ":latest");  // repositories are lowercase
    if (!repo) return;
    const [name, tag] = dw.splitRef(repo);
    const r = await api("POST", "/api/containers/" + id + "/commit/?repo=" + encodeURIComponent(name) +
      "&tag=" + encodeURIComponent(tag || "latest"));
    if (r.ok) fsShow("Committed: " + JSON.stringify(r.data));
    else fsShow("Commit: " + errorText(r), true);
  });

  // ---- live -------------------------------------------------------------------------------
  new dw.EventStream((ev) => {
    if (ev.actor_id !== id) return;
    if (ev.action === "destroy") { toast("container removed"); setTimeout(() => { location.href = "/"; }, 800); return; }
    refresh();
    if (ev.action === "start") {
      if (!terminal.ws) { terminal.reset(); terminal.connect("/ws/containers/" + id + "/attach/"); }
      if (shown.has("logs") && !logSocket) startLogs();
    }
  }, { since: dw.initial.since });
  renderState();
})();
