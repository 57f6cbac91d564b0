"""``FaceScatter``: a 2-D point cloud of faces you can hover, click and box-select.

A small anywidget drawn on a 2-D canvas (no WebGL, no CDN: the script ships in this
file). Chosen over jupyter-scatter, plotly and bqplot because it needs no new package
(jupyter-scatter 1.0.1 would add pyarrow, geoindex-rs and pooch; plotly and bqplot
serve hover images only from URLs), runs in headless Chromium without a GPU, and can ask
the kernel for a face's thumbnail on hover. Hover is found in the browser through a
grid over the screen, so it stays immediate at 10,000 points (measured in
``benchmarks/scatter.py``; ``docs/benchmarks/scatter.md``).

Protocol (custom messages):
    browser -> kernel: ``{"type": "thumb", "index": i}`` when face ``i`` is hovered and
    its thumbnail is not cached in the browser yet;
    kernel -> browser: ``{"type": "thumb", "index": i}`` with one buffer, a JPEG (empty
    when there is none).

Traits the browser sets: ``hovered`` (index or -1), ``selected`` (up to two clicked
faces, oldest first) and ``group`` (the faces inside the last box drawn with the mouse).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anywidget
import numpy as np
import traitlets

from workbench.errors import InvalidArgumentError

_ESM = r"""
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "wb-scatter";
  root.style.cssText = "position:relative;display:inline-block;user-select:none";
  const base = document.createElement("canvas");
  const top = document.createElement("canvas");
  for (const c of [base, top]) c.style.cssText = "position:absolute;left:0;top:0";
  top.style.cursor = "crosshair";
  const tip = document.createElement("div");
  tip.className = "wb-scatter-tip";
  tip.style.cssText =
    "position:absolute;display:none;pointer-events:none;background:#fff;" +
    "border:1px solid #999;border-radius:4px;padding:4px;font:12px sans-serif;" +
    "box-shadow:0 1px 4px rgba(0,0,0,.3);z-index:10;max-width:220px";
  const tipImg = document.createElement("img");
  tipImg.className = "wb-scatter-thumb";
  tipImg.style.cssText = "display:none;width:64px;height:64px;object-fit:cover";
  const tipText = document.createElement("div");
  tip.append(tipImg, tipText);
  const legend = document.createElement("div");
  legend.style.cssText = "font:11px sans-serif;max-width:100%;margin-top:4px";
  const wrap = document.createElement("div");
  wrap.style.position = "relative";
  wrap.append(base, top, tip);
  root.append(wrap, legend);
  el.appendChild(root);

  let xs = new Float32Array(0), ys = new Float32Array(0), people = new Uint16Array(0);
  let px = new Float32Array(0), py = new Float32Array(0);
  let grid = new Map(), cell = 12;
  const thumbs = new Map(); // index -> object URL
  let hover = -1, drag = null;

  function size() { return [model.get("width"), model.get("height")]; }

  function load() {
    const f = (name, T) => {
      const v = model.get(name);
      return v && v.buffer ? new T(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength))
                           : new T(0);
    };
    xs = f("x", Float32Array); ys = f("y", Float32Array); people = f("person", Uint16Array);
    const [w, h] = size();
    for (const c of [base, top]) { c.width = w; c.height = h; }
    wrap.style.width = w + "px"; wrap.style.height = h + "px";
    // Data to screen, with a margin; y grows upwards.
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (let i = 0; i < xs.length; i++) {
      x0 = Math.min(x0, xs[i]); x1 = Math.max(x1, xs[i]);
      y0 = Math.min(y0, ys[i]); y1 = Math.max(y1, ys[i]);
    }
    const m = 12, sx = (w - 2 * m) / ((x1 - x0) || 1), sy = (h - 2 * m) / ((y1 - y0) || 1);
    px = new Float32Array(xs.length); py = new Float32Array(xs.length);
    grid = new Map();
    for (let i = 0; i < xs.length; i++) {
      px[i] = m + (xs[i] - x0) * sx;
      py[i] = h - m - (ys[i] - y0) * sy;
      const k = Math.floor(px[i] / cell) + "," + Math.floor(py[i] / cell);
      if (!grid.has(k)) grid.set(k, []);
      grid.get(k).push(i);
    }
    drawBase();
    drawTop();
    drawLegend();
  }

  function drawBase() {
    const g = base.getContext("2d");
    const colors = model.get("colors");
    const r = model.get("radius");
    g.clearRect(0, 0, base.width, base.height);
    g.globalAlpha = xs.length > 2000 ? 0.6 : 0.9;
    // One path per colour: thousands of points draw in a few milliseconds.
    const byColor = new Map();
    for (let i = 0; i < px.length; i++) {
      const c = colors[people[i] % colors.length] || "#1f77b4";
      if (!byColor.has(c)) byColor.set(c, []);
      byColor.get(c).push(i);
    }
    for (const [c, idx] of byColor) {
      g.fillStyle = c;
      g.beginPath();
      for (const i of idx) { g.moveTo(px[i] + r, py[i]); g.arc(px[i], py[i], r, 0, 2 * Math.PI); }
      g.fill();
    }
    g.globalAlpha = 1;
  }

  function ring(g, i, color, r) {
    g.strokeStyle = color;
    g.beginPath();
    g.arc(px[i], py[i], r, 0, 2 * Math.PI);
    g.stroke();
  }

  function drawTop() {
    const g = top.getContext("2d");
    g.clearRect(0, 0, top.width, top.height);
    const r = model.get("radius");
    g.lineWidth = 1.5;
    for (const i of model.get("group")) if (i < px.length) ring(g, i, "#555", r + 2);
    g.lineWidth = 2.5;
    model.get("selected").forEach((i, k) => {
      if (i < px.length) ring(g, i, k === 0 ? "#d62728" : "#9467bd", r + 4);
    });
    if (hover >= 0) { g.lineWidth = 2; ring(g, hover, "#000", r + 3); }
    if (drag && drag.moved) {
      g.setLineDash([4, 3]);
      g.strokeStyle = "#333";
      g.lineWidth = 1;
      g.strokeRect(drag.x0, drag.y0, drag.x1 - drag.x0, drag.y1 - drag.y0);
      g.setLineDash([]);
    }
  }

  function drawLegend() {
    const names = model.get("people"), colors = model.get("colors");
    legend.innerHTML = "";
    if (names.length > 30) { legend.textContent = `${names.length} people`; return; }
    names.forEach((n, k) => {
      const s = document.createElement("span");
      s.style.cssText = "margin-right:8px;white-space:nowrap";
      const dot = document.createElement("span");
      dot.style.cssText = `display:inline-block;width:9px;height:9px;border-radius:50%;` +
        `background:${colors[k % colors.length]};margin-right:3px`;
      s.append(dot, document.createTextNode(n));
      legend.appendChild(s);
    });
  }

  function nearest(x, y) {
    const r = Math.max(6, model.get("radius") + 3);
    let best = -1, bestD = r * r;
    const cx = Math.floor(x / cell), cy = Math.floor(y / cell);
    for (let gx = cx - 1; gx <= cx + 1; gx++) for (let gy = cy - 1; gy <= cy + 1; gy++) {
      for (const i of grid.get(gx + "," + gy) || []) {
        const d = (px[i] - x) ** 2 + (py[i] - y) ** 2;
        if (d <= bestD) { bestD = d; best = i; }
      }
    }
    return best;
  }

  function showTip(i, x, y) {
    if (i < 0) { tip.style.display = "none"; return; }
    const labels = model.get("labels");
    tipText.textContent = labels[i] || String(i);
    tip.dataset.index = String(i);
    const url = thumbs.get(i);
    if (url) { tipImg.src = url; tipImg.style.display = ""; }
    else {
      tipImg.style.display = "none";
      if (!thumbs.has(i)) { thumbs.set(i, null); model.send({ type: "thumb", index: i }); }
    }
    const [w] = size();
    tip.style.left = Math.min(x + 12, w - 150) + "px";
    tip.style.top = (y + 12) + "px";
    tip.style.display = "";
  }

  function onMsg(msg, buffers) {
    if (!msg || msg.type !== "thumb") return;
    const buf = buffers && buffers[0];
    if (!buf || !buf.byteLength) { thumbs.set(msg.index, ""); return; }
    const url = URL.createObjectURL(new Blob([buf], { type: "image/jpeg" }));
    thumbs.set(msg.index, url);
    if (tip.dataset.index === String(msg.index) && tip.style.display !== "none") {
      tipImg.src = url; tipImg.style.display = "";
    }
  }

  function pos(ev) {
    const b = top.getBoundingClientRect();
    return [ev.clientX - b.left, ev.clientY - b.top];
  }

  top.addEventListener("mousemove", (ev) => {
    const [x, y] = pos(ev);
    if (drag) {
      drag.x1 = x; drag.y1 = y;
      drag.moved = drag.moved || Math.abs(x - drag.x0) + Math.abs(y - drag.y0) > 4;
      drawTop();
      return;
    }
    const i = nearest(x, y);
    if (i !== hover) {
      hover = i;
      drawTop();
      model.set("hovered", i);
      model.save_changes();
    }
    showTip(i, x, y);
  });
  top.addEventListener("mouseleave", () => {
    hover = -1; showTip(-1); drawTop();
    model.set("hovered", -1); model.save_changes();
  });
  top.addEventListener("mousedown", (ev) => {
    const [x, y] = pos(ev);
    drag = { x0: x, y0: y, x1: x, y1: y, moved: false };
  });
  window.addEventListener("mouseup", (ev) => {
    if (!drag) return;
    const d = drag; drag = null;
    if (d.moved) {
      const [xa, xb] = [Math.min(d.x0, d.x1), Math.max(d.x0, d.x1)];
      const [ya, yb] = [Math.min(d.y0, d.y1), Math.max(d.y0, d.y1)];
      const inside = [];
      for (let i = 0; i < px.length; i++)
        if (px[i] >= xa && px[i] <= xb && py[i] >= ya && py[i] <= yb) inside.push(i);
      model.set("group", inside);
    } else {
      const i = nearest(d.x0, d.y0);
      let sel = model.get("selected").slice();
      if (i < 0) sel = [];
      else if (sel.includes(i)) sel = sel.filter((k) => k !== i);
      else sel = [...sel, i].slice(-2);
      model.set("selected", sel);
    }
    model.save_changes();
    drawTop();
  });

  // Where point i is on the page, for tests and scripts that drive the mouse.
  root.wbPoint = (i) => {
    const b = top.getBoundingClientRect();
    return i >= 0 && i < px.length ? [b.left + px[i], b.top + py[i]] : null;
  };
  root.wbCount = () => px.length;
  model.on("msg:custom", onMsg);
  for (const t of ["x", "y", "person", "colors", "width", "height", "radius", "people"])
    model.on("change:" + t, load);
  model.on("change:selected", drawTop);
  model.on("change:group", drawTop);
  load();
  return () => {
    model.off("msg:custom", onMsg);
    for (const url of thumbs.values()) if (url) URL.revokeObjectURL(url);
  };
}
export default { render };
"""


class FaceScatter(anywidget.AnyWidget):
    """Faces as points coloured by person; hover for a thumbnail, click two, drag a box.

    Args:
        xy: ``(N, 2)`` point positions (any units; scaled to fit).
        names: ``N`` person names (the colour).
        labels: ``N`` hover texts (name and photo); the names when absent.
        thumbnail: ``thumbnail(i) -> (H, W, 3) uint8 RGB or None``, called on the
            kernel when face ``i`` is first hovered.
        width, height: the plot's size in pixels.

    Attributes:
        hovered: the face under the mouse, or -1.
        selected: up to two clicked faces, oldest first.
        group: the faces inside the last box dragged.

    Raises:
        InvalidArgumentError: shapes or lengths that do not agree.

    Example:
        >>> FaceScatter(xy, names, thumbnail=lambda i: chips[i])  # doctest: +SKIP
    """

    _esm = _ESM

    x = traitlets.Bytes(b"").tag(sync=True)
    y = traitlets.Bytes(b"").tag(sync=True)
    person = traitlets.Bytes(b"").tag(sync=True)
    people = traitlets.List(traitlets.Unicode()).tag(sync=True)
    colors = traitlets.List(traitlets.Unicode()).tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    width = traitlets.Int(520).tag(sync=True)
    height = traitlets.Int(420).tag(sync=True)
    radius = traitlets.Float(4.0).tag(sync=True)
    hovered = traitlets.Int(-1).tag(sync=True)
    selected = traitlets.List(traitlets.Int()).tag(sync=True)
    group = traitlets.List(traitlets.Int()).tag(sync=True)

    def __init__(
        self,
        xy: np.ndarray,
        names: Sequence[str],
        *,
        labels: Sequence[str] | None = None,
        thumbnail: Callable[[int], np.ndarray | None] | None = None,
        width: int = 520,
        height: int = 420,
    ) -> None:
        super().__init__(width=int(width), height=int(height))
        self._thumbnail = thumbnail
        self.thumbs_sent = 0
        self.on_msg(self._on_msg)
        self.set_points(xy, names, labels=labels)

    def set_points(
        self, xy: np.ndarray, names: Sequence[str], *, labels: Sequence[str] | None = None
    ) -> None:
        """Replace every point (selection and group are cleared)."""
        xy = np.asarray(xy, np.float32)
        names = [str(n) for n in names]
        labels = names if labels is None else [str(t) for t in labels]
        if xy.ndim != 2 or xy.shape[1] != 2 or not (len(xy) == len(names) == len(labels)):
            raise InvalidArgumentError(
                f"expected (N, 2) positions and N names and labels, but got {xy.shape}, "
                f"{len(names)} names and {len(labels)} labels"
            )
        people = sorted(set(names))
        index = {p: k for k, p in enumerate(people)}
        with self.hold_sync():
            self.selected = []
            self.group = []
            self.people = people
            # Unknown faces are grey whatever the palette (nobody's colour).
            self.colors = [
                "#9e9e9e" if p == "unknown" else c
                for p, c in zip(people, person_colors(len(people)), strict=True)
            ]
            self.labels = labels
            self.radius = 4.0 if len(xy) <= 2000 else 2.5
            self.x = np.ascontiguousarray(xy[:, 0]).tobytes()
            self.y = np.ascontiguousarray(xy[:, 1]).tobytes()
            self.person = np.array([index[n] for n in names], np.uint16).tobytes()

    def __len__(self) -> int:
        return len(self.labels)

    def _on_msg(self, _widget: Any, content: dict, _buffers: Sequence[Any]) -> None:
        if not isinstance(content, dict) or content.get("type") != "thumb":
            return
        i = int(content.get("index", -1))
        data = b""
        if self._thumbnail is not None and 0 <= i < len(self):
            from workbench.ui.common import encode_image

            image = self._thumbnail(i)
            if image is not None:
                data = encode_image(image, quality=80)
        self.thumbs_sent += 1
        self.send({"type": "thumb", "index": i}, [data])


def person_colors(n: int) -> list[str]:
    """``n`` distinct ``#rrggbb`` colours (tab10, then tab20, then cycling hues)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if n <= 10:
        cmap = colormaps["tab10"]
        return [to_hex(cmap(k)) for k in range(n)]
    if n <= 20:
        cmap = colormaps["tab20"]
        return [to_hex(cmap(k)) for k in range(n)]
    cmap = colormaps["hsv"]
    # Golden-ratio steps round the hue circle: neighbours in name order differ.
    return [to_hex(cmap((k * 0.618034) % 1.0)) for k in range(n)]
