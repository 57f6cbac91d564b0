"""A small browser camera widget that streams JPEG frames to the kernel (anywidget).

The browser opens the camera (``getUserMedia``), shows the live preview, draws each frame
to a canvas, encodes it as JPEG (``canvas.toBlob``) and sends it to the kernel as a binary
buffer of a custom widget message. Flow control: the kernel acknowledges every frame as
soon as it is received and the browser keeps at most ``max_in_flight`` frames
unacknowledged, so a kernel too busy to handle widget messages gets at most that many
stale frames afterwards, not a backlog. Boxes and names from the kernel (the ``overlays`` trait, a
small JSON list) are drawn over the preview in the browser, so the annotated view needs
no image round trip.

Only the newest frame is kept (encoded) in a one-slot buffer; it is decoded to RGB by
whoever reads it (:meth:`WebcamWidget.read`, :class:`~workbench.live.WebcamSource`), so
frames that are overwritten are never decoded and the thread that runs the message
handler only stores bytes.

Protocol (custom messages):
    browser -> kernel: ``{"type": "frame", "seq": n, "t": capture epoch ms, "width": w,
    "height": h, "in_flight": k, "encode_ms": draw + JPEG encode}`` with one buffer, the
    JPEG;
    ``{"type": "error", "name": ..., "message": ...}`` (also set as the ``error`` trait).
    kernel -> browser: ``{"type": "ack", "seq": n}``.

Example:
    >>> from workbench.live import WebcamSource, WebcamWidget  # doctest: +SKIP
    >>> cam = WebcamWidget(width=640, height=480, fps=30)  # doctest: +SKIP
    >>> cam  # shows the preview; the browser asks for camera permission  # doctest: +SKIP
    >>> source = WebcamSource(cam)  # then LiveRecognizer(source, recognizer)  # doctest: +SKIP
    >>> cam.overlays = [{"box": [10, 20, 110, 140], "label": "alice"}]  # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anywidget
import numpy as np
import traitlets

from workbench.errors import InvalidArgumentError, InvalidImageError

#: Capture-to-kernel delays outside ``[0, MAX_CLOCK_DELAY_S]`` are taken as clock skew
#: between the browser's machine and the kernel's, and ignored (receive time is used).
MAX_CLOCK_DELAY_S = 10.0

_ESM = r"""
const senders = new WeakMap(); // model -> the one view that streams frames

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "wb-webcam";
  root.style.cssText = "position:relative;display:inline-block;line-height:0;background:#111";
  const video = document.createElement("video");
  video.autoplay = true;
  video.muted = true;
  video.playsInline = true;
  video.style.cssText = "display:block;max-width:100%;height:auto";
  const overlay = document.createElement("canvas");
  overlay.style.cssText =
    "position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none";
  const status = document.createElement("div");
  status.style.cssText =
    "position:absolute;left:4px;bottom:4px;font:12px sans-serif;line-height:1.2;" +
    "color:#fff;background:rgba(0,0,0,.55);padding:1px 4px;border-radius:3px";
  root.append(video, overlay, status);
  el.appendChild(root);

  const grab = document.createElement("canvas");
  const ctx = grab.getContext("2d");
  let stream = null;
  let timer = null;
  let closed = false;
  let seq = 0;
  const inFlight = new Map(); // seq -> performance.now() when sent
  if (!senders.has(model)) senders.set(model, root);

  function setStatus(text) {
    status.textContent = text;
    status.style.display = text ? "" : "none";
  }

  function report(name, message) {
    model.set("error", `${name}: ${message}`);
    model.set("status", "error");
    model.save_changes();
    model.send({ type: "error", name, message });
    setStatus(`camera error: ${message}`);
  }

  function drawOverlays() {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w || !h) return;
    if (overlay.width !== w) overlay.width = w;
    if (overlay.height !== h) overlay.height = h;
    const g = overlay.getContext("2d");
    g.clearRect(0, 0, w, h);
    const mirror = model.get("mirror");
    g.lineWidth = Math.max(2, Math.round(w / 320));
    g.font = `${Math.max(12, Math.round(h / 30))}px sans-serif`;
    g.textBaseline = "bottom";
    for (const item of model.get("overlays") || []) {
      const b = item.box;
      if (!Array.isArray(b) || b.length !== 4) continue;
      let [x1, y1, x2, y2] = b.map(Number);
      if (mirror) [x1, x2] = [w - x2, w - x1];
      const color = item.color || "#00e676";
      g.strokeStyle = color;
      g.strokeRect(x1, y1, x2 - x1, y2 - y1);
      const label = item.label == null ? "" : String(item.label);
      if (label) {
        const tw = g.measureText(label).width + 8;
        const th = parseInt(g.font, 10) + 6;
        const ty = y1 - th >= 0 ? y1 : y1 + th;
        g.fillStyle = color;
        g.fillRect(x1, ty - th, tw, th);
        g.fillStyle = "#000";
        g.fillText(label, x1 + 4, ty - 3);
      }
    }
  }

  function applyMirror() {
    const t = model.get("mirror") ? "scaleX(-1)" : "";
    video.style.transform = t;
  }

  function onMsg(msg) {
    if (msg && msg.type === "ack") inFlight.delete(msg.seq);
  }

  async function sendFrame() {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w || !h || video.readyState < 2) return;
    if (grab.width !== w) grab.width = w;
    if (grab.height !== h) grab.height = h;
    const t0 = performance.now();
    const t = performance.timeOrigin + t0;
    ctx.drawImage(video, 0, 0, w, h);
    const n = ++seq;
    inFlight.set(n, performance.now());
    const blob = await new Promise((ok) =>
      grab.toBlob(ok, "image/jpeg", model.get("quality")));
    if (!blob || closed) { inFlight.delete(n); return; }
    const buffer = await blob.arrayBuffer();
    model.send(
      { type: "frame", seq: n, t, width: w, height: h, in_flight: inFlight.size,
        encode_ms: performance.now() - t0 },
      undefined, [buffer]);
  }

  function tick() {
    if (closed) return;
    const period = 1000 / Math.max(1, model.get("fps"));
    const started = performance.now();
    // An ack lost (kernel restarted, message dropped) must not stall the stream forever.
    const stale = model.get("ack_timeout_ms");
    for (const [n, sent] of inFlight) if (started - sent > stale) inFlight.delete(n);
    if (!senders.has(model)) senders.set(model, root); // the sending view went away
    const active = senders.get(model) === root && model.get("streaming");
    if (active && inFlight.size < model.get("max_in_flight")) {
      sendFrame().catch((e) => report(e.name || "Error", e.message || String(e)));
    }
    timer = setTimeout(tick, Math.max(0, period - (performance.now() - started)));
  }

  async function start() {
    setStatus("starting camera…");
    model.set("status", "starting");
    model.save_changes();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      report("NotSupportedError",
        "this browser offers no camera here (getUserMedia needs https or localhost)");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: {
          width: { ideal: model.get("width") },
          height: { ideal: model.get("height") },
          frameRate: { ideal: model.get("fps") },
        },
      });
    } catch (e) {
      report(e.name || "Error", e.message || String(e));
      return;
    }
    if (closed) { stream.getTracks().forEach((t) => t.stop()); return; }
    for (const track of stream.getVideoTracks()) {
      track.addEventListener("ended", () => {
        if (!closed) report("EndedError", "the camera stopped (unplugged or taken away)");
      });
    }
    video.srcObject = stream;
    try { await video.play(); } catch (e) { /* autoplay is muted; play() may race */ }
    setStatus("");
    model.set("error", "");
    model.set("status", "streaming");
    model.save_changes();
    tick();
  }

  model.on("msg:custom", onMsg);
  model.on("change:overlays", drawOverlays);
  model.on("change:mirror", () => { applyMirror(); drawOverlays(); });
  video.addEventListener("resize", drawOverlays);
  applyMirror();
  start();

  return () => {
    closed = true;
    clearTimeout(timer);
    model.off("msg:custom", onMsg);
    model.off("change:overlays", drawOverlays);
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (senders.get(model) === root) senders.delete(model);
  };
}

export default { render };
"""


@dataclass(frozen=True, eq=False)
class WebcamFrame:
    """One encoded frame as the browser sent it (decode with :meth:`decode`).

    Attributes:
        seq: the browser's running number, from 1 (gaps are frames overwritten unread).
        jpeg: the encoded bytes.
        captured: ``time.monotonic()`` seconds when the browser drew the frame (from its
            clock; the receive time when the two clocks disagree).
        received: ``time.monotonic()`` seconds when the kernel received it.
        in_flight: frames the browser had unacknowledged when it sent this one.
    """

    seq: int
    jpeg: bytes
    captured: float
    received: float
    in_flight: int

    def decode(self) -> np.ndarray:
        """The frame as ``(H, W, 3)`` uint8 RGB.

        Raises:
            InvalidImageError: the bytes are not a decodable image.
        """
        return decode_jpeg(self.jpeg)


def decode_jpeg(data: bytes | memoryview) -> np.ndarray:
    """Decode JPEG (or PNG) bytes to ``(H, W, 3)`` uint8 RGB.

    Raises:
        InvalidImageError: the bytes are not a decodable image.
    """
    import cv2

    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InvalidImageError(
            f"the browser camera sent {len(data)} bytes that are not a decodable JPEG"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class WebcamWidget(anywidget.AnyWidget):
    """The browser's webcam as a widget that streams JPEG frames to the kernel.

    Display it (it is the preview). Read frames from a thread (the live loop does): the
    kernel handles widget messages on its main thread between cells, or, in JupyterLab
    4.6 with ipykernel 7, on a kernel subshell thread even while a cell runs (measured in
    ``benchmarks/webcam.py``). Traits sync with the browser; change ``overlays`` to draw
    boxes and names over the preview.

    Args:
        width: requested frame width in pixels (the camera picks the nearest it has).
        height: requested frame height in pixels.
        fps: frames per second the browser tries to send.
        quality: JPEG quality, 0-1.
        max_in_flight: frames the browser may have sent and not yet seen acknowledged.
        mirror: show the preview mirrored (as a selfie); frames and overlay boxes stay in
            the camera's own coordinates.

    Attributes:
        overlays: list of ``{"box": [x1, y1, x2, y2], "label": str, "color": "#rrggbb"}``
            in frame pixels (``label`` and ``color`` optional).
        streaming: ``False`` pauses sending frames (the preview goes on).
        status: ``"starting"``, ``"streaming"`` or ``"error"``, set by the browser.
        error: ``""`` or what went wrong in the browser (``"NotAllowedError: ..."`` when
            camera permission was refused, ``"NotFoundError: ..."`` without a camera).
        received: frames received so far.

    Raises:
        InvalidArgumentError: a size, rate, quality or in-flight limit out of range.
    """

    _esm = _ESM

    width = traitlets.Int(640).tag(sync=True)
    height = traitlets.Int(480).tag(sync=True)
    fps = traitlets.Float(30.0).tag(sync=True)
    quality = traitlets.Float(0.8).tag(sync=True)
    max_in_flight = traitlets.Int(2).tag(sync=True)
    ack_timeout_ms = traitlets.Int(5000).tag(sync=True)
    mirror = traitlets.Bool(False).tag(sync=True)
    streaming = traitlets.Bool(True).tag(sync=True)
    overlays = traitlets.List(traitlets.Dict()).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        *,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        quality: float = 0.8,
        max_in_flight: int = 2,
        mirror: bool = False,
        **kwargs: Any,
    ) -> None:
        if width <= 0 or height <= 0:
            raise InvalidArgumentError(f"width and height must be > 0, but got {width}x{height}")
        if not 0 < fps <= 120:
            raise InvalidArgumentError(f"fps must be in (0, 120], but got {fps}")
        if not 0 < quality <= 1:
            raise InvalidArgumentError(f"quality must be in (0, 1], but got {quality}")
        if max_in_flight < 1:
            raise InvalidArgumentError(f"max_in_flight must be >= 1, but got {max_in_flight}")
        super().__init__(
            width=int(width),
            height=int(height),
            fps=float(fps),
            quality=float(quality),
            max_in_flight=int(max_in_flight),
            mirror=bool(mirror),
            **kwargs,
        )
        self._cond = threading.Condition()
        self._latest: WebcamFrame | None = None
        self._ended: str | None = None
        self.received = 0
        self.on_msg(self._on_msg)
        self.observe(self._on_error, names="error")

    # Runs on the kernel thread that handles widget messages, for every frame: store and
    # acknowledge, no decoding, so the next frame is not held up.
    def _on_msg(self, _widget: Any, content: dict, buffers: Sequence[Any]) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "frame":
            received = time.monotonic()
            seq = int(content.get("seq", 0))
            if buffers:
                delay = time.time() - float(content.get("t", 0)) / 1000.0
                captured = received - delay if 0 <= delay <= MAX_CLOCK_DELAY_S else received
                frame = WebcamFrame(
                    seq, bytes(buffers[0]), captured, received, int(content.get("in_flight", 0))
                )
                with self._cond:
                    self._latest = frame
                    self.received += 1
                    self._cond.notify_all()
            # Acknowledge even an empty frame, or the browser would count it in flight.
            self.send({"type": "ack", "seq": seq})
        elif kind == "error":
            message = f"{content.get('name', 'Error')}: {content.get('message', '')}"
            if self.error != message:
                self.error = message

    def _on_error(self, change: dict) -> None:
        with self._cond:
            self._cond.notify_all()

    def latest(self) -> WebcamFrame | None:
        """The newest frame received (still encoded), or ``None`` before the first."""
        with self._cond:
            return self._latest

    def wait_frame(self, after: int = 0, timeout: float | None = None) -> WebcamFrame | None:
        """Wait for a frame newer than ``after`` (a ``seq``).

        Returns ``None`` on timeout, when the browser reports an error, or when the
        widget is closed (see :attr:`ended`).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._latest is not None and self._latest.seq > after:
                    return self._latest
                if self.ended is not None:
                    return None
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)

    def read(self, timeout: float = 10.0) -> np.ndarray | None:
        """The newest frame as ``(H, W, 3)`` uint8 RGB, waiting up to ``timeout`` seconds
        for the first one; ``None`` if none came."""
        frame = self.wait_frame(0, timeout)
        return None if frame is None else frame.decode()

    @property
    def ended(self) -> str | None:
        """Why this camera cannot deliver frames (an error or closed), else ``None``."""
        if self._ended is not None:
            return self._ended
        if self.error:
            return f"browser camera error: {self.error}"
        return None

    def wake(self) -> None:
        """Wake every thread waiting for a frame (they re-check their own stop flags)."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        """Close the widget (the preview goes away, the camera stops); readers end."""
        cond = getattr(self, "_cond", None)
        if cond is not None:
            with cond:
                self._ended = self._ended or "the camera widget was closed"
                cond.notify_all()
        super().close()
