// The client history timeline (Porcupine's picture): a lane per client, a bar per operation from
// invoke to completion. One canvas; only the operations inside the current time window are drawn,
// so 10,000 operations stay cheap. Wheel: zoom at the cursor; drag: pan; buttons: page through.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("timeline-data").textContent);
  var canvas = document.getElementById("timeline");
  var tip = document.getElementById("timeline-tip");
  var status = document.getElementById("timeline-status");
  var ctx = canvas.getContext("2d");
  var LANE = 22, TOP = 34, LEFT = 64, RIGHT = 14, BOTTOM = 28;
  var KIND_COLOURS = ["#4e79a7", "#59a14f", "#b07aa1", "#76b7b2", "#9c755f", "#edc948", "#ff9da7", "#bab0ac"];
  var BAND_COLOURS = { network: "rgba(215,48,39,0.13)", leaderless: "rgba(150,150,150,0.28)", down: "rgba(49,54,149,0.14)" };
  var OUTCOME = ["ok", "failed", "unknown outcome"];
  var lanes = [];
  for (var c = 0; c < data.clients; c++) lanes.push([]);
  // Operations come client by client in issue order: each lane is sorted by invoke and by completion.
  data.ops.forEach(function (o, i) { if (o[0] < lanes.length) lanes[o[0]].push(i); });
  var end = Math.max(1, data.end_us);
  var v0 = 0, v1 = end, width = 800, dpr = 1;

  function plotWidth() { return width - LEFT - RIGHT; }
  function xOf(t) { return LEFT + (t - v0) * plotWidth() / (v1 - v0); }
  function tOf(x) { return v0 + (x - LEFT) * (v1 - v0) / plotWidth(); }
  function fmt(us) { return (us / 1e6).toFixed(3) + " s"; }

  function niceStep(span) {
    var raw = span / 10, p = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= raw) return steps[i] * p;
    return 10 * p;
  }

  // First index in `lane` whose completion is at or after t (completions are sorted).
  function firstEndingAfter(lane, t) {
    var lo = 0, hi = lane.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (data.ops[lane[mid]][2] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }

  function draw() {
    var h = TOP + lanes.length * LANE + BOTTOM;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, h);
    ctx.font = "12px sans-serif";
    ctx.textBaseline = "middle";
    ctx.save();
    ctx.beginPath(); ctx.rect(LEFT, 0, plotWidth(), h); ctx.clip();
    data.bands.forEach(function (b) {
      if (b[1] < v0 || b[0] > v1) return;
      var a = xOf(b[0]), z = xOf(b[1]);
      ctx.fillStyle = BAND_COLOURS[b[3]] || "rgba(0,0,0,0.1)";
      ctx.fillRect(a, TOP, Math.max(1, z - a), lanes.length * LANE);
      if (z - a > 60) {
        ctx.fillStyle = "#555";
        var label = b[2].length > (z - a) / 7 ? b[2].slice(0, Math.max(3, Math.floor((z - a) / 7) - 1)) + "…" : b[2];
        ctx.fillText(label, Math.max(a, LEFT) + 4, b[3] === "network" ? 10 : 24);
      }
    });
    var drawn = 0;
    for (var c = 0; c < lanes.length; c++) {
      var lane = lanes[c], y = TOP + c * LANE + 3, hh = LANE - 6;
      for (var k = firstEndingAfter(lane, v0); k < lane.length; k++) {
        var o = data.ops[lane[k]];
        if (o[1] > v1) break;
        // A pixel of gap keeps back-to-back operations of one client apart.
        var a = xOf(o[1]), w = Math.max(2, xOf(o[2]) - a - 1);
        var colour = KIND_COLOURS[o[4] % KIND_COLOURS.length];
        if (o[3] === 0) { ctx.fillStyle = colour; ctx.fillRect(a, y, w, hh); }
        else if (o[3] === 1) { ctx.strokeStyle = "#d73027"; ctx.lineWidth = 1.5; ctx.strokeRect(a + 0.5, y + 0.5, w - 1, hh - 1); }
        else {
          ctx.fillStyle = "rgba(253,141,60,0.55)"; ctx.fillRect(a, y, w, hh);
          ctx.strokeStyle = "#e6550d"; ctx.setLineDash([3, 2]); ctx.lineWidth = 1.5;
          ctx.strokeRect(a + 0.5, y + 0.5, w - 1, hh - 1); ctx.setLineDash([]);
          if (w > 14) { ctx.fillStyle = "#7f2704"; ctx.fillText("?", a + w - 9, y + hh / 2); }
        }
        if (o[5] & 2) { ctx.strokeStyle = "#222"; ctx.lineWidth = 2; ctx.strokeRect(a, y - 1, w, hh + 2); }
        if (o[5] & 1) { ctx.strokeStyle = "#c51b7d"; ctx.lineWidth = 3; ctx.strokeRect(a - 1, y - 2, w + 2, hh + 4); }
        drawn++;
      }
    }
    ctx.restore();
    // Lane names and the time axis.
    ctx.fillStyle = "#222";
    for (var l = 0; l < lanes.length; l++) ctx.fillText("client " + l, 4, TOP + l * LANE + LANE / 2);
    var axisY = TOP + lanes.length * LANE;
    ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(LEFT, axisY + 0.5); ctx.lineTo(width - RIGHT, axisY + 0.5); ctx.stroke();
    var step = niceStep(v1 - v0);
    ctx.textAlign = "center";
    for (var t = Math.ceil(v0 / step) * step; t <= v1; t += step) {
      var x = xOf(t);
      ctx.beginPath(); ctx.moveTo(x + 0.5, axisY); ctx.lineTo(x + 0.5, axisY + 5); ctx.stroke();
      ctx.fillText((t / 1e6).toFixed(step >= 1e6 ? 0 : step >= 1e5 ? 1 : step >= 1e4 ? 2 : 3) + "s", x, axisY + 15);
    }
    ctx.textAlign = "start";
    canvas.setAttribute("data-drawn-ops", String(drawn));
    status.textContent = "showing " + fmt(v0) + " to " + fmt(v1) + ": " + drawn + " of " + data.ops.length + " operations";
  }

  function resize() {
    width = Math.max(400, canvas.parentElement.clientWidth);
    dpr = window.devicePixelRatio || 1;
    var h = TOP + lanes.length * LANE + BOTTOM;
    canvas.width = Math.round(width * dpr); canvas.height = Math.round(h * dpr);
    canvas.style.width = width + "px"; canvas.style.height = h + "px";
    draw();
  }

  function setWindow(a, b) {
    var span = Math.max(1000, Math.min(end, b - a));
    a = Math.max(0, Math.min(end - span, a));
    v0 = a; v1 = a + span;
    draw();
  }
  function zoom(f, at) { setWindow(at - (at - v0) * f, at + (v1 - at) * f); }

  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    zoom(e.deltaY > 0 ? 1.25 : 0.8, tOf(e.offsetX));
  }, { passive: false });
  var dragFrom = null;
  canvas.addEventListener("mousedown", function (e) { dragFrom = { x: e.offsetX, v0: v0, v1: v1 }; });
  window.addEventListener("mouseup", function () { dragFrom = null; });
  canvas.addEventListener("mousemove", function (e) {
    if (dragFrom) {
      var dt = (e.offsetX - dragFrom.x) * (dragFrom.v1 - dragFrom.v0) / plotWidth();
      setWindow(dragFrom.v0 - dt, dragFrom.v1 - dt);
      return;
    }
    var lane = Math.floor((e.offsetY - TOP) / LANE), t = tOf(e.offsetX), slack = 3 * (v1 - v0) / plotWidth();
    var hit = null;
    if (lane >= 0 && lane < lanes.length) {
      var l = lanes[lane];
      var k = firstEndingAfter(l, t - slack);
      if (k < l.length && data.ops[l[k]][1] <= t + slack) hit = data.ops[l[k]];
    }
    if (!hit) { tip.hidden = true; return; }
    tip.hidden = false;
    tip.textContent = "client " + hit[0] + " · " + (data.kinds[hit[4]] || "") + " · " + OUTCOME[hit[3]] +
      (hit[5] & 1 ? " · OFFENDING" : "") + "\n" + fmt(hit[1]) + " → " + fmt(hit[2]) +
      " (" + ((hit[2] - hit[1]) / 1000).toFixed(1) + " ms)\n" + hit[6];
    tip.style.left = Math.min(e.offsetX + 14, width - 360) + "px";
    tip.style.top = (e.offsetY + 14) + "px";
  });
  canvas.addEventListener("mouseleave", function () { tip.hidden = true; });

  function on(id, f) { var el = document.getElementById(id); if (el) el.addEventListener("click", f); }
  on("tl-in", function () { zoom(0.5, (v0 + v1) / 2); });
  on("tl-out", function () { zoom(2, (v0 + v1) / 2); });
  on("tl-fit", function () { setWindow(0, end); });
  on("tl-prev", function () { setWindow(v0 - (v1 - v0), v0); });
  on("tl-next", function () { setWindow(v1, v1 + (v1 - v0)); });
  on("tl-window", function () {
    var s = parseFloat(document.getElementById("tl-seconds").value);
    if (s > 0) setWindow(v0, v0 + s * 1e6);
  });
  on("tl-violation", function () {
    var first = null;
    data.ops.forEach(function (o) { if ((o[5] & 1) && (!first || o[1] < first[1])) first = o; });
    if (first) { var span = Math.max(200000, (first[2] - first[1]) * 6); setWindow(first[1] - span / 2, first[1] + span / 2); }
  });
  window.addEventListener("resize", resize);
  // Kind legend.
  var legend = document.getElementById("timeline-kinds");
  data.kinds.forEach(function (k, i) {
    var s = document.createElement("span");
    s.className = "swatch";
    s.style.background = KIND_COLOURS[i % KIND_COLOURS.length];
    legend.appendChild(s);
    legend.appendChild(document.createTextNode(k + " "));
  });
  resize();
})();
