/* An xterm.js terminal attached over the dockerweb attach protocol
   (/ws/containers/{id}/attach/ or /ws/exec/{id}/):
   - output: binary frames; raw with a tty, else 1 stream byte (1 stdout, 2 stderr) + data
     (stderr is shown red, each of its lines tagged "err": colour is not the only signal);
   - input: binary frames (stdin); text frames {"type":"resize",rows,cols} / {"type":"close_stdin"};
   - history/live boundary: a text frame {"type":"live"} after the scrollback;
   - end: a text frame {"type":"exit", exit_code, ...}, then the server closes.
   Replayed history never produces input: each output frame received before {"type":"live"}
   is written as one chunk between two private OSC markers (OSC 7707 with a random token of
   this page, so output cannot forge them); their handler mutes onData/onBinary while xterm
   parses exactly those bytes, so the terminal's answers to queries in the history (cursor
   position ESC[6n, device attributes, colours…) are dropped instead of being typed into the
   process. Keys typed meanwhile still go: they never arrive inside a parse.
   The terminal fits its box (fit addon) and follows window/box resizes; Shift+Esc moves
   keyboard focus out of it. */
"use strict";

// how often an attach socket that closed before it ever opened is opened again (see connect)
const NEVER_OPENED_TRIES = 6;

class AttachTerminal {
  static MARK = 7707; // the private OSC number of the history markers
  static RED = new TextEncoder().encode("\x1b[31m");
  static PLAIN = new TextEncoder().encode("\x1b[0m");
  // without a tty, each stderr line starts with this tag (inverse "err"): not colour alone
  static ERR_TAG = new TextEncoder().encode("\x1b[7merr\x1b[27m ");

  /**
   * @param {HTMLElement} box  element to render into
   * @param {object} opts  {tty: bool, stdin: bool, onStatus(text), onExit(doc)}
   */
  constructor(box, opts) {
    this.box = box;
    this.opts = opts;
    this.ws = null;
    this.live = false; // {"type":"live"} seen on this connection
    this.muted = false; // xterm is parsing history: what it answers is not sent
    this.encoder = new TextEncoder();
    const token = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
    this.historyStart = this.encoder.encode("\x1b]" + AttachTerminal.MARK + ";" + token + "h\x07");
    this.historyEnd = this.encoder.encode("\x1b]" + AttachTerminal.MARK + ";" + token + "l\x07");
    this.term = new Terminal({
      convertEol: !opts.tty, // without a tty, programs print bare "\n"
      cursorBlink: !!opts.stdin, disableStdin: !opts.stdin, scrollback: 10000,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace', fontSize: 13,
      theme: { background: "#111111" },
    });
    this.fit = new FitAddon.FitAddon();
    this.term.loadAddon(this.fit);
    this.term.open(box);
    this.term.onData((d) => { if (!this.muted) this.sendBytes(this.encoder.encode(d)); });
    this.term.onBinary((d) => {
      if (!this.muted) this.sendBytes(Uint8Array.from(d, (ch) => ch.charCodeAt(0) & 0xff));
    });
    this.term.parser.registerOscHandler(AttachTerminal.MARK, (data) => {
      if (data === token + "h") this.muted = true;
      else if (data === token + "l") this.muted = false;
      return true; // never shown, whoever sent it
    });
    this.term.onResize(({ rows, cols }) => this.sendResize(rows, cols));
    // Shift+Esc leaves the terminal (every other key belongs to the container): focus moves
    // to the next control after the terminal's box, so keyboard users are never trapped
    this.term.attachCustomKeyEventHandler((e) => {
      if (e.key !== "Escape" || !e.shiftKey) return true;
      if (e.type === "keydown") this.releaseFocus();
      return false;
    });
    this.resizeTimer = null;
    this.observer = new ResizeObserver(() => this.refit());
    this.observer.observe(box);
    this.onWindowResize = () => this.refit();
    window.addEventListener("resize", this.onWindowResize);
    this.refit();
  }

  /** Move keyboard focus to the first focusable control after the terminal's box (or, when
      there is none, the last one before it). */
  releaseFocus() {
    const all = [...document.querySelectorAll("a[href], button, input, select, textarea, [tabindex]")]
      .filter((n) => n.tabIndex >= 0 && !n.disabled && n.offsetParent !== null && !this.box.contains(n));
    const after = all.filter((n) => this.box.compareDocumentPosition(n) & Node.DOCUMENT_POSITION_FOLLOWING);
    const before = all.filter((n) => this.box.compareDocumentPosition(n) & Node.DOCUMENT_POSITION_PRECEDING);
    this.term.blur();
    (after[0] || before[before.length - 1] || document.getElementById("main")).focus();
  }

  /** Fit the terminal to its box (debounced); the server is told through onResize. */
  refit() {
    clearTimeout(this.resizeTimer);
    this.resizeTimer = setTimeout(() => {
      if (this.box.offsetParent === null) return; // hidden tab: fit when shown
      try { this.fit.fit(); } catch (e) { /* not laid out yet */ }
    }, 50);
  }

  /** Attach through the WebSocket at `path`. A socket that closes before it ever opened
      (Chromium fails connections in flight when a host interface changes, as a container's
      veth does, and a host that starts and stops many containers changes them all the
      time) is tried again, up to NEVER_OPENED_TRIES times, after 100, 200, 400... ms
      (6.3 s in all): nothing came through it, so nothing is shown twice. An attach that
      opened and then closed is not repeated. */
  connect(path, tries = 0) {
    this.close();
    const ws = new WebSocket(dw.wsURL(path));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.live = false;
    this.status("connecting…");
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.status(this.opts.stdin ? "attached" : "attached (read-only: stdin is not open)");
      this.sendResize(this.term.rows, this.term.cols);
    };
    ws.onmessage = (m) => {
      if (typeof m.data === "string") return this.control(JSON.parse(m.data));
      this.output(new Uint8Array(m.data), !this.live);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!opened && e.code === 1006 && tries < NEVER_OPENED_TRIES && !this.exited) {
        this.retry = setTimeout(() => this.connect(path, tries + 1), 100 * 2 ** tries);
        return;
      }
      if (e.code === 4401) this.status("not logged in");
      else if (e.code === 4404) this.status("gone");
      else if (!this.exited) this.status("disconnected");
    };
  }

  /** Write one output frame as one xterm chunk (parsed in one go); history is wrapped in
      the muting markers. */
  output(bytes, history) {
    const parts = [];
    if (history) parts.push(this.historyStart);
    if (this.opts.tty) parts.push(bytes);
    else if (bytes[0] === 2) parts.push(AttachTerminal.RED, ...this.tagged(bytes.subarray(1)), AttachTerminal.PLAIN);
    else parts.push(bytes.subarray(1));
    if (!this.opts.tty && bytes.length > 1) {
      this.lastStream = bytes[0];
      this.atLineStart = bytes[bytes.length - 1] === 0x0a;
    }
    if (history) parts.push(this.historyEnd);
    if (parts.length === 1) { this.term.write(parts[0]); return; }
    const chunk = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { chunk.set(p, at); at += p.length; }
    this.term.write(chunk);
  }

  /** stderr data (no tty) cut at its newlines, with ERR_TAG before each line it starts: at
      a line start, or where it follows other output on the same line. */
  tagged(data) {
    const out = [];
    let tag = this.atLineStart !== false || this.lastStream !== 2;
    let start = 0;
    while (start < data.length) {
      const nl = data.indexOf(0x0a, start);
      const end = nl < 0 ? data.length : nl + 1;
      if (tag) out.push(AttachTerminal.ERR_TAG);
      out.push(data.subarray(start, end));
      tag = nl >= 0;
      start = end;
    }
    return out;
  }

  control(msg) {
    if (msg.type === "live") {
      this.live = true;
      this.term.write("", () => { this.muted = false; }); // after all history: never stuck muted
    } else if (msg.type === "exit") {
      this.exited = true;
      const how = msg.exit_code === null || msg.exit_code === undefined
        ? (msg.error || "lost") : "exit code " + msg.exit_code + (msg.oom_killed ? ", OOM killed" : "");
      this.term.write("\r\n\x1b[2m[process ended: " + how + "]\x1b[0m\r\n");
      this.status("ended (" + how + ")");
      if (this.opts.onExit) this.opts.onExit(msg);
    } else if (msg.type === "warning" || msg.type === "error") {
      this.term.write("\r\n\x1b[33m[" + msg.message + "]\x1b[0m\r\n");
    }
  }

  sendBytes(bytes) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.opts.stdin) return;
    for (let i = 0; i < bytes.length; i += 1 << 20) this.ws.send(bytes.subarray(i, i + (1 << 20)));
  }

  sendResize(rows, cols) {
    if (this.opts.tty && this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: "resize", rows, cols }));
    }
  }

  reset() { this.exited = false; this.atLineStart = true; this.lastStream = 0; this.term.reset(); }

  status(text) { if (this.opts.onStatus) this.opts.onStatus(text); }

  close() {
    clearTimeout(this.retry);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close();
    }
  }

  dispose() {
    this.close();
    this.observer.disconnect();
    window.removeEventListener("resize", this.onWindowResize);
    this.term.dispose();
  }
}
