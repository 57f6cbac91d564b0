"""``DistanceMatrix``: the faces' distance matrix, drawn in the browser, with hover.

Each cell is one pair of faces; hovering it names both faces (person and photo) and
their distance. The distances travel once as one byte per cell (quantized to 256 levels
over ``[0, vmax]``; the exact value shown on hover comes from the same bytes, so it is
good to ``vmax / 255``, about 0.005); colours are viridis reversed (near is bright),
people are separated by white lines between their blocks where cells are big enough.
A canvas anywidget like :mod:`workbench.ui.scatter`: no new package, nothing from a CDN.
"""

from __future__ import annotations

from collections.abc import Sequence

import anywidget
import numpy as np
import traitlets

from workbench.errors import InvalidArgumentError

#: Largest matrix drawn cell by cell (N faces -> N*N bytes sent; 1500 -> 2.25 MB).
MAX_FACES = 1500

_ESM = r"""
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "wb-matrix";
  root.style.cssText = "position:relative;display:inline-block;font:12px sans-serif";
  const title = document.createElement("div");
  title.textContent = "distance matrix, grouped by person (hover a cell)";
  title.style.cssText = "margin-bottom:2px";
  const canvas = document.createElement("canvas");
  canvas.style.cssText = "image-rendering:pixelated;cursor:crosshair;display:block";
  const tip = document.createElement("div");
  tip.className = "wb-matrix-tip";
  tip.style.cssText =
    "position:absolute;display:none;pointer-events:none;background:#fff;" +
    "border:1px solid #999;border-radius:4px;padding:3px 5px;white-space:nowrap;z-index:10";
  const scale = document.createElement("div");
  scale.style.cssText = "display:flex;align-items:center;gap:4px;margin-top:2px";
  // Person names beside their blocks (when few enough to read).
  const names = document.createElement("div");
  names.style.cssText = "position:relative;width:110px;flex:none;font-size:10px;color:#333";
  const row = document.createElement("div");
  row.style.cssText = "display:flex;align-items:flex-start";
  row.append(names, canvas);
  root.append(title, row, tip, scale);
  el.appendChild(root);
  let n = 0, cells = new Uint8Array(0);

  function draw() {
    const v = model.get("cells");
    cells = v && v.buffer ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
                          : new Uint8Array(0);
    n = model.get("n");
    const size = model.get("size");
    // k screen pixels per cell, so the separators fall between cells, not over one.
    const k = Math.max(1, Math.floor(size / Math.max(n, 1)));
    canvas.width = n * k; canvas.height = n * k;
    canvas.style.width = size + "px"; canvas.style.height = size + "px";
    const lut = model.get("lut").map((h) => [1, 3, 5].map((q) => parseInt(h.slice(q, q + 2), 16)));
    const g = canvas.getContext("2d");
    const w = n * k;
    const img = g.createImageData(w, w);
    for (let y = 0; y < w; y++) {
      const row = Math.floor(y / k) * n;
      for (let x = 0; x < w; x++) {
        const c = lut[cells[row + Math.floor(x / k)]] || [0, 0, 0];
        const o = 4 * (y * w + x);
        img.data[o] = c[0]; img.data[o + 1] = c[1]; img.data[o + 2] = c[2]; img.data[o + 3] = 255;
      }
    }
    g.putImageData(img, 0, 0);
    if (k >= 4) {  // too few pixels per cell: a line would hide a row of faces
      g.fillStyle = "#fff";
      for (const s of model.get("starts")) {
        if (s <= 0) continue;
        g.fillRect(0, s * k - 1, w, 1); g.fillRect(s * k - 1, 0, 1, w);
      }
    }
    names.innerHTML = "";
    names.style.height = size + "px";
    const starts = model.get("starts"), people = model.get("people");
    if (people.length && people.length <= 40) {
      starts.forEach((s, k) => {
        const end = k + 1 < starts.length ? starts[k + 1] : n;
        const label = document.createElement("div");
        label.textContent = people[k] || "";
        label.style.cssText = "position:absolute;right:4px;white-space:nowrap;overflow:hidden;" +
          `max-width:106px;transform:translateY(-50%);top:${((s + end) / 2 / n) * size}px`;
        names.appendChild(label);
      });
    }
    const vmax = model.get("vmax");
    scale.innerHTML = "";
    const bar = document.createElement("span");
    bar.style.cssText = "display:inline-block;width:120px;height:8px;background:linear-gradient(" +
      "to right," + model.get("lut").filter((_, k) => k % 32 === 0).join(",") + ")";
    scale.append(document.createTextNode("0"), bar, document.createTextNode(vmax.toFixed(2)));
  }

  canvas.addEventListener("mousemove", (ev) => {
    const b = canvas.getBoundingClientRect();
    const i = Math.floor((ev.clientY - b.top) / b.height * n);
    const j = Math.floor((ev.clientX - b.left) / b.width * n);
    if (i < 0 || j < 0 || i >= n || j >= n) { tip.style.display = "none"; return; }
    const labels = model.get("labels");
    const d = cells[i * n + j] / 255 * model.get("vmax");
    tip.textContent = i === j ? `${labels[i]} (itself)` :
      `${labels[i]} vs ${labels[j]}: ${d.toFixed(3)}`;
    tip.style.left = Math.min(ev.clientX - b.left + 122, model.get("size")) + "px";
    tip.style.top = (ev.clientY - b.top + 28) + "px";
    tip.style.display = "";
  });
  canvas.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  for (const t of ["cells", "n", "size", "lut", "starts", "vmax", "people"])
    model.on("change:" + t, draw);
  draw();
}
export default { render };
"""


class DistanceMatrix(anywidget.AnyWidget):
    """An ``N x N`` distance matrix with hover (the pair's labels and distance).

    Args:
        distances: ``(N, N)`` symmetric distances, faces already grouped by person.
        labels: ``N`` hover labels (``name · photo``).
        starts: the first row of each person's block (white lines before them).
        people: the name of each block, written beside it (up to 40 blocks).
        size: the drawn size in pixels.

    Raises:
        InvalidArgumentError: a matrix that is not square, labels that do not match, or
            more than :data:`MAX_FACES` faces.
    """

    _esm = _ESM

    cells = traitlets.Bytes(b"").tag(sync=True)
    n = traitlets.Int(0).tag(sync=True)
    vmax = traitlets.Float(1.0).tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    starts = traitlets.List(traitlets.Int()).tag(sync=True)
    people = traitlets.List(traitlets.Unicode()).tag(sync=True)
    lut = traitlets.List(traitlets.Unicode()).tag(sync=True)
    size = traitlets.Int(400).tag(sync=True)

    def __init__(
        self,
        distances: np.ndarray,
        labels: Sequence[str],
        *,
        starts: Sequence[int] = (),
        people: Sequence[str] = (),
        size: int = 400,
    ) -> None:
        super().__init__(size=int(size), lut=_viridis_r())
        self.set_matrix(distances, labels, starts=starts, people=people)

    def set_matrix(
        self,
        distances: np.ndarray,
        labels: Sequence[str],
        *,
        starts: Sequence[int] = (),
        people: Sequence[str] = (),
    ) -> None:
        """Replace the matrix."""
        d = np.asarray(distances, np.float64)
        if d.ndim != 2 or d.shape[0] != d.shape[1] or d.shape[0] != len(labels):
            raise InvalidArgumentError(
                f"expected an (N, N) matrix and N labels, but got {d.shape} and {len(labels)}"
            )
        if len(d) > MAX_FACES:
            raise InvalidArgumentError(
                f"a distance matrix of {len(d)} faces is too large to draw (at most {MAX_FACES})"
            )
        vmax = float(d.max()) if d.size else 1.0
        vmax = vmax if vmax > 0 else 1.0
        with self.hold_sync():
            self.vmax = vmax
            self.labels = [str(t) for t in labels]
            self.starts = [int(s) for s in starts]
            self.people = [str(p) for p in people]
            self.n = len(d)
            self.cells = np.round(np.clip(d / vmax, 0, 1) * 255).astype(np.uint8).tobytes()

    def distance_at(self, i: int, j: int) -> float:
        """The distance the browser shows on hover for cell ``(i, j)``."""
        return self.cells[i * self.n + j] / 255 * self.vmax


def _viridis_r() -> list[str]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["viridis_r"]
    return [to_hex(cmap(k / 255)) for k in range(256)]
