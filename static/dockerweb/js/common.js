/* dockerweb dashboard: shared helpers (REST calls with the session + CSRF, websockets,
   the live event stream, toasts, the confirmation dialog, formatting). No framework. */
"use strict";

const dw = (() => {
  const initial = JSON.parse(document.getElementById("initial-data").textContent || "{}") || {};

  function cookie(name) {
    const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }

  // a GET that meets a network error is tried again this many times: Chromium fails the
  // requests in flight (net::ERR_NETWORK_CHANGED) when a host interface gets an address, and
  // every container start adds one (its veth) on the host that `make run`'s browser runs on.
  // Other methods are not repeated: the server may have acted on them.
  const GET_RETRIES = 2;

  /** REST call; resolves to {ok, status, data} and never throws on HTTP errors. */
  async function api(method, path, body) {
    const opts = { method, credentials: "same-origin", headers: { "X-CSRFToken": cookie("csrftoken") } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let res;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await fetch(path, opts);
        break;
      } catch (e) {
        if (method !== "GET" || attempt >= GET_RETRIES)
          return { ok: false, status: 0, data: { message: "network error: " + e.message } };
        await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
      }
    }
    let data = null;
    const text = await res.text();
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    return { ok: res.ok, status: res.status, data };
  }

  /** Read a fetch response's body as JSON lines (Docker's progress streams): `onMessage` gets
      each object as it arrives (blank keep-alive lines skipped), `afterChunk` runs after each
      chunk read. Resolves at the end of the body. */
  async function jsonLines(res, onMessage, afterChunk) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) onMessage(JSON.parse(line));
      }
      if (afterChunk) afterChunk();
    }
  }

  /** "reg:5000/a/b:tag" -> ["reg:5000/a/b", "tag"]: the tag is after the last ":" of the last
      path component (a registry port is not a tag); "" when there is none. */
  function splitRef(ref) {
    const slash = ref.lastIndexOf("/"), colon = ref.lastIndexOf(":");
    return colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, ""];
  }

  /** A reference as a URL path segment sequence: each component encoded, "/" kept (the API
      routes images/<path:ref>/). */
  function refPath(ref) {
    return ref.split("/").map(encodeURIComponent).join("/");
  }

  /** The server's message ("No such image: …"), else the HTTP status. */
  function errorText(r) {
    const msg = r.data && typeof r.data === "object" ? r.data.message : "";
    return msg || (r.status === 404 ? "not found (404)" : "HTTP " + r.status);
  }

  /** Show `text` in a status element (a live region: role=status). kind: "busy", "ok" or
      "error"; an error is marked by class and an icon, not by colour alone. */
  function showStatus(elm, text, kind) {
    elm.textContent = text;
    elm.classList.remove("busy", "ok", "error", "muted");
    elm.classList.add("status-msg");
    if (kind) elm.classList.add(kind);
  }

  /** Say `text` to assistive technology through the page's polite live region (#announcer):
      cleared first, then set on the next frame, so a repeated text is announced again. */
  function announce(text) {
    const region = document.getElementById("announcer");
    if (!region) return;
    region.textContent = "";
    requestAnimationFrame(() => { region.textContent = text; });
  }

  /** Per-field errors of `form`: each field named in `byField` ({name: message(s)}; `alias`
      maps API names to field names) is marked aria-invalid, its message put in its slot
      (#err-…, which its aria-describedby names), a summary put in `summary` (role=alert:
      announced) and the first such field focused. Messages for unknown fields join
      `general` in the summary. clearFieldErrors(form, summary) undoes it; an edited field
      is unmarked by watchFieldErrors(form). */
  function showFieldErrors(form, summary, byField, general, alias) {
    const named = [];
    const rest = [...(general || [])];
    let first = null;
    for (const [key, msgs] of Object.entries(byField || {})) {
      const name = (alias && alias[key]) || key;
      const input = form.elements[name];
      const text = [].concat(msgs).map(String).join(" ");
      const slot = input && input.getAttribute && document.getElementById(
        (input.getAttribute("aria-describedby") || "").split(/\s+/).find((i) => i.startsWith("err-")) || "");
      if (!slot) { rest.push(key + ": " + text); continue; }
      input.setAttribute("aria-invalid", "true");
      slot.textContent = text;
      const label = input.id && form.querySelector("label[for='" + input.id + "']");
      named.push((label ? label.textContent.trim() : name) + ": " + text);
      first = first || input;
    }
    summary.textContent = [...rest, ...named].join(" · ");
    const folded = first && first.closest("details:not([open])");
    if (folded) folded.open = true; // a field among folded options is shown
    if (first) first.focus();
  }

  function clearFieldErrors(form, summary) {
    if (summary) summary.textContent = "";
    for (const f of form.querySelectorAll("[aria-invalid]")) {
      f.removeAttribute("aria-invalid");
      const slot = document.getElementById((f.getAttribute("aria-describedby") || "").split(/\s+/)
        .find((i) => i.startsWith("err-")) || "");
      if (slot) slot.textContent = "";
    }
  }

  function watchFieldErrors(form) {
    form.addEventListener("input", (e) => { // an edited field is no longer marked wrong
      const f = e.target;
      if (!f.getAttribute || !f.getAttribute("aria-invalid")) return;
      f.removeAttribute("aria-invalid");
      const slot = document.getElementById((f.getAttribute("aria-describedby") || "").split(/\s+/)
        .find((i) => i.startsWith("err-")) || "");
      if (slot) slot.textContent = "";
    });
  }

  function wsURL(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  function toast(text, kind) {
    const el = document.createElement("div");
    el.className = "toast" + (kind ? " " + kind : "");
    if (kind === "error") el.setAttribute("role", "alert"); // announced at once
    el.textContent = (kind === "error" ? "⚠ " : "") + text;
    document.getElementById("toasts").appendChild(el);
    setTimeout(() => el.remove(), kind === "error" ? 6000 : 3000);
  }

  /** The page's confirmation dialog; resolves to true (OK) or false. With `input`, to the
      text typed (or null). */
  function confirmDialog(text, okLabel, input) {
    const dlg = document.getElementById("confirm-dialog");
    dlg.querySelector(".confirm-text").textContent = text;
    dlg.querySelector(".confirm-ok").textContent = okLabel || "OK";
    const row = dlg.querySelector(".confirm-input-row");
    const field = dlg.querySelector(".confirm-input");
    row.hidden = input === undefined;
    field.value = input || "";
    return new Promise((resolve) => {
      dlg.addEventListener("close", () => {
        const ok = dlg.returnValue === "ok";
        resolve(input === undefined ? ok : (ok ? field.value : null));
      }, { once: true });
      dlg.returnValue = "";
      dlg.showModal();
      (input === undefined ? dlg.querySelector(".confirm-ok") : field).focus();
    });
  }

  /** The durable event stream (/ws/events/), resumed from the last seq after a drop. */
  class EventStream {
    constructor(onEvent, opts) {
      this.onEvent = onEvent;
      this.since = opts && opts.since !== undefined ? opts.since : null;
      this.indicator = opts && opts.indicator;
      this.delay = 500;
      this.connect();
    }
    connect() {
      const q = this.since === null ? "" : "?since=" + this.since;
      const ws = new WebSocket(wsURL("/ws/events/" + q));
      ws.onopen = () => { this.delay = 500; this.mark(true); };
      ws.onmessage = (m) => {
        const ev = JSON.parse(m.data);
        if (ev.seq === undefined) return;
        this.since = ev.seq;
        this.onEvent(ev);
      };
      ws.onclose = () => {
        this.mark(false);
        setTimeout(() => this.connect(), this.delay);
        this.delay = Math.min(this.delay * 2, 10000);
      };
    }
    mark(on) { // said in words, not by the dot's colour alone
      if (!this.indicator) return;
      this.indicator.classList.toggle("on", on);
      this.indicator.textContent = on ? "● live" : "○ reconnecting…";
      this.indicator.title = "live updates: " + (on ? "on" : "off, reconnecting");
    }
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return "";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  }

  /** Docker's units.HumanDuration: "Less than a second", "About a minute", "3 minutes", … */
  function humanDuration(seconds) {
    const s = Math.floor(seconds);
    if (s < 1) return "Less than a second";
    if (s === 1) return "1 second";
    if (s < 60) return s + " seconds";
    const m = Math.floor(s / 60);
    if (m === 1) return "About a minute";
    if (m < 60) return m + " minutes";
    const h = Math.round(s / 3600);
    if (h === 1) return "About an hour";
    if (h < 48) return h + " hours";
    if (h < 24 * 7 * 2) return Math.floor(h / 24) + " days";
    if (h < 24 * 30 * 2) return Math.floor(h / 24 / 7) + " weeks";
    if (h < 24 * 365 * 2) return Math.floor(h / 24 / 30) + " months";
    return Math.floor(h / 24 / 365) + " years";
  }

  function since(iso) {
    return Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  }

  function ago(iso) {
    return iso ? humanDuration(since(iso)) + " ago" : "";
  }

  /** docker ps's status: "Up 3 minutes", "Exited (7) 2 minutes ago", "Created", … */
  function statusText(c) {
    const st = c.state;
    if (st.status === "running") return "Up " + humanDuration(since(st.started_at)) + (st.paused ? " (Paused)" : "");
    if (st.status === "exited" || st.status === "dead") {
      const head = st.status === "dead" ? "Dead" : "Exited (" + st.exit_code + ")";
      return st.finished_at ? head + " " + ago(st.finished_at) : head;
    }
    return st.status.charAt(0).toUpperCase() + st.status.slice(1);
  }

  /** An argv as a shell would read it back: arguments with blanks or quotes are quoted. */
  function shellJoin(argv) {
    return (argv || []).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : "'" + a.replace(/'/g, "'\\''") + "'"))
      .join(" ");
  }

  /** Published ports of an inspect document as [{text, href}] (href for TCP ports: the host's
      address, or this page's host for 0.0.0.0). */
  function publishedPorts(c) {
    const out = [];
    const ports = (c.network_settings && c.network_settings.ports) || {};
    for (const [priv, binds] of Object.entries(ports)) {
      for (const b of binds || []) {
        const host = !b.host_ip || b.host_ip === "0.0.0.0" || b.host_ip === "::" ? location.hostname : b.host_ip;
        const text = (b.host_ip && b.host_ip !== "0.0.0.0" ? b.host_ip + ":" : "") + b.host_port + "→" + priv;
        const bracketed = host.includes(":") ? "[" + host + "]" : host;
        out.push({ text, href: priv.endsWith("/tcp") ? "http://" + bracketed + ":" + b.host_port + "/" : null });
      }
    }
    return out;
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  /** Run a container action through the REST API (confirming destructive ones); onStart()
      runs once confirmed, before the call; opts {name, quiet}: the name said in the
      announcements ("web: stopping…", then "web: stopped"), none when quiet. Failures are
      error toasts (role=alert). Resolves to the API answer (null: cancelled). */
  async function containerAction(id, action, confirmText, onStart, opts) {
    if (confirmText && !(await confirmDialog(confirmText, action.charAt(0).toUpperCase() + action.slice(1)))) {
      return null;
    }
    const { name, quiet } = opts || {}; // quiet: the caller announces (bulk actions, once for all)
    const who = (name || id.slice(0, 12)) + ": ";
    const say = quiet ? () => {} : announce;
    if (onStart) onStart(); // feedback at once: "stopping…", buttons disabled
    say(who + actingText(action)); // and said at once
    const r = action === "remove"
      ? await api("DELETE", "/api/containers/" + id + "/?force=1")
      : await api("POST", "/api/containers/" + id + "/" + action + "/");
    if (r.status === 304) toast("nothing to do: already " + (action === "start" ? "started" : "stopped"));
    else if (!r.ok) toast(action + " failed: " + errorText(r), "error"); // role=alert
    else say(who + doneText(action));
    return r;
  }

  /** "stop" -> "stopping…": the word shown while an action runs. */
  const ACTING = { start: "starting", stop: "stopping", restart: "restarting", kill: "killing", remove: "removing",
                   pause: "pausing", unpause: "unpausing" };
  function actingText(action) { return (ACTING[action] || action) + "…"; }
  function doneText(action) { return DONE[action] || action + " done"; }
  const DONE = { start: "started", stop: "stopped", restart: "restarted", kill: "killed", remove: "removed",
                 pause: "paused", unpause: "unpaused" };

  return { initial, actingText, doneText, announce, showFieldErrors, clearFieldErrors, watchFieldErrors, cookie, api, errorText, showStatus, wsURL, toast, confirmDialog, EventStream, fmtBytes, fmtTime, ago,
           humanDuration, statusText, shellJoin, publishedPorts, el, containerAction, splitRef, refPath,
           jsonLines };
})();
