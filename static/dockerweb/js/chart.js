/* A small live chart on a canvas: CPU % and memory over the last two minutes. */
"use strict";

class StatsChart {
  static POINTS = 120;

  constructor(canvas) {
    this.canvas = canvas;
    this.samples = []; // {cpu: percent, mem: bytes, limit: bytes}
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  push(doc) {
    this.samples.push({ cpu: doc.cpu.percent || 0, mem: doc.memory.working_set, limit: doc.memory.limit,
                        limited: doc.memory.limited });
    if (this.samples.length > StatsChart.POINTS) this.samples.shift();
    this.draw();
  }

  gap() { // the container stopped: a break in the lines
    this.samples.push(null);
    if (this.samples.length > StatsChart.POINTS) this.samples.shift();
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (!w || !h) return;
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const pad = { l: 8, r: 8, t: 22, b: 8 };
    const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
    g.strokeStyle = "#eceff3";
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = pad.t + (ph * i) / 4;
      g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke();
    }
    const live = this.samples.filter(Boolean);
    const cpuMax = Math.max(100, ...live.map((s) => s.cpu));
    const last = live[live.length - 1];
    const memMax = Math.max(1, 1.25 * Math.max(0, ...live.map((s) => s.mem)), last && last.limited ? last.limit : 0);
    this.line(g, (s) => s.cpu / cpuMax, "#1f6feb", pad, pw, ph);
    this.line(g, (s) => s.mem / memMax, "#2f9e44", pad, pw, ph);
    g.font = "12px system-ui, sans-serif";
    g.fillStyle = "#1f6feb";
    g.fillText("CPU " + (last ? last.cpu.toFixed(1) : "–") + " % (of " + cpuMax.toFixed(0) + ")", pad.l, 14);
    g.fillStyle = "#2f9e44";
    const memText = "memory " + (last ? dw.fmtBytes(last.mem) : "–") + " (scale " + dw.fmtBytes(memMax) + ")";
    g.fillText(memText, Math.max(pad.l + 190, w / 2), 14);
  }

  line(g, value, color, pad, pw, ph) {
    const n = StatsChart.POINTS;
    g.strokeStyle = color;
    g.lineWidth = 1.5;
    g.beginPath();
    let pen = false;
    this.samples.forEach((s, i) => {
      if (!s) { pen = false; return; }
      const x = pad.l + (pw * (n - this.samples.length + i)) / (n - 1);
      const y = pad.t + ph * (1 - Math.min(1, value(s)));
      if (pen) g.lineTo(x, y); else g.moveTo(x, y);
      pen = true;
    });
    g.stroke();
  }
}
