/* A virtualised log viewer: only the rows in view are in the DOM, so 100,000 lines (and
   more) scroll smoothly. Follows the end unless the user scrolled up; search filters and
   highlights; timestamps can be shown. Records come from /ws/containers/{id}/logs/. */
"use strict";

class LogView {
  static ROW = 18; // px, matches .logview .row
  static MAX_LINES = 300000; // oldest lines are dropped beyond this

  constructor(box, opts) {
    this.box = box;
    this.opts = opts || {};
    this.lines = []; // {s: 0 stdout | 1 stderr, t: time, x: text, open: bool (no newline yet)}
    this.view = null; // indices of lines matching the search, or null for all
    this.query = "";
    this.stamps = false;
    this.follow = true;
    this.dirty = false;
    this.spacer = dw.el("div", { class: "spacer-y" });
    this.rows = dw.el("div", { class: "rows" });
    this.spacer.append(this.rows);
    box.append(this.spacer);
    box.addEventListener("scroll", () => {
      const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 2 * LogView.ROW;
      if (atEnd !== this.follow) {
        this.follow = atEnd;
        if (this.opts.onFollow) this.opts.onFollow(atEnd);
      }
      this.schedule();
    });
    new ResizeObserver(() => this.schedule()).observe(box);
  }

  static clean(text) {
    // terminal output: drop escape sequences and carriage returns for reading
    return text.replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\r/g, "");
  }

  /** Add records [{stream, time, log}]; a record without "\n" continues on the next one. */
  add(records) {
    const start = this.lines.length;
    for (const r of records) {
      const s = r.stream === "stderr" ? 1 : 0;
      const parts = r.log.split("\n");
      const last = this.lines[this.lines.length - 1];
      let first = true;
      for (let i = 0; i < parts.length; i++) {
        const isLast = i === parts.length - 1;
        if (isLast && parts[i] === "") break; // the record ended with a newline
        const text = LogView.clean(parts[i]);
        if (first && last && last.open && last.s === s) last.x += text;
        else this.lines.push({ s, t: r.time, x: text, open: false });
        first = false;
        this.lines[this.lines.length - 1].open = isLast;
      }
    }
    let dropped = 0;
    if (this.lines.length > LogView.MAX_LINES) {
      dropped = this.lines.length - LogView.MAX_LINES;
      this.lines.splice(0, dropped);
    }
    if (this.view) {
      if (dropped) this.refilter();
      else for (let i = Math.max(0, start - 1); i < this.lines.length; i++) {
        if (this.matches(this.lines[i]) && this.view[this.view.length - 1] !== i) this.view.push(i);
      }
    }
    this.schedule();
  }

  clear() { this.lines = []; this.view = this.query ? [] : null; this.schedule(); }

  matches(line) { return line.x.toLowerCase().includes(this.query); }

  search(q) {
    this.query = q.toLowerCase();
    this.refilter();
    this.follow = true;
    this.schedule();
  }

  refilter() {
    this.view = null;
    if (this.query) {
      this.view = [];
      for (let i = 0; i < this.lines.length; i++) if (this.matches(this.lines[i])) this.view.push(i);
    }
  }

  setStamps(on) { this.stamps = on; this.schedule(); }

  setFollow(on) { this.follow = on; this.schedule(); }

  get count() { return this.view ? this.view.length : this.lines.length; }

  text() { return this.lines.map((l) => (this.stamps ? l.t + " " : "") + l.x).join("\n"); }

  schedule() {
    if (this.dirty) return;
    this.dirty = true;
    requestAnimationFrame(() => { this.dirty = false; this.render(); });
  }

  render() {
    const R = LogView.ROW;
    const n = this.count;
    this.spacer.style.height = n * R + "px";
    if (this.follow) this.box.scrollTop = this.box.scrollHeight;
    const first = Math.max(0, Math.floor(this.box.scrollTop / R) - 20);
    const last = Math.min(n, Math.ceil((this.box.scrollTop + this.box.clientHeight) / R) + 20);
    this.rows.style.transform = "translateY(" + first * R + "px)";
    const out = [];
    for (let k = first; k < last; k++) out.push(this.row(this.lines[this.view ? this.view[k] : k]));
    this.rows.replaceChildren(...out);
    if (this.opts.onRender) this.opts.onRender(n, this.lines.length);
  }

  row(line) {
    const div = document.createElement("div");
    div.className = line.s ? "row stderr" : "row"; // stderr: an "err" tag in the gutter (CSS)
    if (this.stamps) div.append(dw.el("span", { class: "ts", text: line.t + " " }));
    if (!this.query) {
      div.append(line.x);
      return div;
    }
    const lower = line.x.toLowerCase();
    let at = 0;
    for (let hit = lower.indexOf(this.query); hit >= 0; hit = lower.indexOf(this.query, at)) {
      div.append(line.x.slice(at, hit), dw.el("mark", { text: line.x.slice(hit, hit + this.query.length) }));
      at = hit + this.query.length;
    }
    div.append(line.x.slice(at));
    return div;
  }
}
