"""``LivePanel``: live recognition on the browser webcam, a local camera or a video file.

The loop runs on :class:`workbench.live.LiveRecognizer`'s two threads; the panel only
shows each published result from the worker's callback, so the kernel stays free to run
other cells and to receive webcam frames. The browser camera is a
:class:`~workbench.live.WebcamWidget` streaming JPEG frames to a
:class:`~workbench.live.WebcamSource`; its boxes and names are drawn by the browser over
the live preview (the widget's ``overlays`` trait), so no annotated image goes back. The
local camera and video file sources are drawn into an ``ipywidgets.Image`` (throttled).
"""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import InvalidArgumentError
from workbench.faces import UNKNOWN
from workbench.ui.common import ErrorLog, encode_image, set_image, threshold_html

if TYPE_CHECKING:
    from workbench.detect.base import Detector
    from workbench.embed.embedder import FaceEmbedder
    from workbench.gallery import Gallery
    from workbench.live.loop import LiveRecognizer, LiveResult

BROWSER, LOCAL, VIDEO = "browser camera", "local camera", "video file"
#: Most view updates per second sent to the browser; the loop itself may run faster.
MAX_VIEW_FPS = 12.0
#: Browser camera request: frame size and rate (the camera picks the nearest it has).
WEBCAM_SIZE, WEBCAM_FPS = (640, 480), 30.0
#: What a detector costs live, said next to the detector choice. Measured in the browser
#: test's set-up (2 CPU cores, 640x480 browser camera): MediaPipe 18-19 processed
#: frames/s; MTCNN about 1.5 frames/s with 0.8-1.5 s latency.
DETECTOR_NOTES = {
    "mtcnn": "MTCNN is slow live: about 1.5 frames/s and 0.8-1.5 s behind on 2 CPU cores "
    "(mediapipe: 18-19 frames/s); better for photos than for a camera",
    "mediapipe tiled (small faces)": "tiled searches every frame for faces down to about "
    "16-20 px, at about 15 frames/s on 2 CPU cores; plain mediapipe runs the same search "
    "only on frames where it sees no near face",
}


class LivePanel:
    """Start/stop live recognition and watch it, with "who is this?" enrollment.

    Args:
        gallery: the :class:`workbench.gallery.Gallery` to recognize against (and to enroll
            unknown faces into).
        embedder: the embedder (``default_embedder()``).
        detector: the detector to start with, a label of
            :data:`workbench.detect.DETECTOR_CHOICES` (``"mediapipe"``, ``"mtcnn"``, ...).
        source: the source to start with: ``"browser camera"``, ``"local camera"`` or
            ``"video file"``.
        video: path of the video file for the ``"video file"`` source.

    Example:
        >>> panel = LivePanel(gallery, default_embedder(), source="video file",
        ...                   video="clip.mp4")  # doctest: +SKIP
        >>> panel.start(); panel.wait(5); panel.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        gallery: Gallery,
        embedder: FaceEmbedder,
        *,
        detector: str = "mediapipe",
        source: str = BROWSER,
        video: str | Path = "",
    ) -> None:
        import ipywidgets as w

        from workbench.detect import DETECTOR_CHOICES

        self.gallery = gallery
        self.embedder = embedder
        self.live = None
        self._keeper = None  # keeps the unknown faces of a run (UnknownsKeeper)
        self._detectors: dict[str, Detector] = {}
        self._last_view = 0.0
        self._lock = threading.Lock()
        self._camera = None
        self._overlay_camera: Any = None  # the webcam whose overlays the loop updates
        self.faces_text = "not running"  # the latest result's faces, as plain text

        self.output = w.Output()
        self.errors = ErrorLog(self.output)
        self.source = w.Dropdown(
            options=[BROWSER, LOCAL, VIDEO], value=source, description="source"
        )
        self.camera_index = w.BoundedIntText(value=0, min=0, max=16, description="camera #")
        self.video = w.Text(value=str(video), placeholder="path or URL", description="video")
        self.realtime = w.Checkbox(value=True, description="video at its own speed")
        self.detector = w.Dropdown(
            options=list(DETECTOR_CHOICES), value=detector, description="detector"
        )
        self.start_button = w.Button(description="Start", icon="play", button_style="success")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.view = w.Image(format="jpeg", width=640)
        set_image(self.view, b"")
        self.detector_note = w.HTML()
        self.faces = w.HTML("<i>not running</i>")
        self.stats = w.HTML()
        self.threshold_label = w.HTML(threshold_html(gallery))
        self.unknown = w.Dropdown(options=[], description="unknown")
        self.new_name = w.Text(placeholder="their name", description="who is this?")
        # Enabled only while an unknown face is in view (see _set_unknown).
        self.enroll_button = w.Button(description="Enroll face", icon="user-plus", disabled=True)
        # "This is not X": a correction the decision keeps (Gallery.reject).
        self.named = w.Dropdown(options=[], description="named")
        self.reject_button = w.Button(
            description="Not this person", icon="user-times", disabled=True
        )
        self.camera_box = w.Box()

        self.start_button.on_click(self.errors.guard(lambda _b: self.start()))
        self.stop_button.on_click(self.errors.guard(lambda _b: self.stop()))
        self.enroll_button.on_click(self.errors.guard(self._on_enroll_unknown))
        self.reject_button.on_click(self.errors.guard(self._on_reject))
        self.source.observe(self.errors.guard(self._on_source), names="value")
        self.detector.observe(self.errors.guard(self._on_detector), names="value")
        self._on_source({"new": source})
        self._show_detector_note()

        self.widget = w.VBox(
            [
                w.HBox([self.source, self.detector, self.detector_note]),
                w.HBox([self.camera_index, self.video, self.realtime]),
                w.HBox([self.start_button, self.stop_button]),
                self.camera_box,
                self.view,
                self.threshold_label,
                self.stats,
                self.faces,
                w.HBox([self.unknown, self.new_name, self.enroll_button]),
                w.HBox([self.named, self.reject_button]),
                self.output,
            ]
        )

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # Sources ----------------------------------------------------------------------------

    @property
    def camera(self) -> Any:
        """The :class:`~workbench.live.WebcamWidget` of the browser source (made on first
        use): the live preview, with the names drawn over it."""
        if self._camera is None:
            from workbench.live import WebcamWidget

            width, height = WEBCAM_SIZE
            # Frames flow only while the loop runs (start/stop switch ``streaming``): a
            # preview that streams keeps the kernel flickering Busy/Idle for nothing.
            self._camera = WebcamWidget(width=width, height=height, fps=WEBCAM_FPS, streaming=False)
            self._camera.add_class("wb-camera")
        return self._camera

    def _on_source(self, change: dict) -> None:
        kind = change["new"]
        self.camera_index.layout.display = "" if kind == LOCAL else "none"
        self.video.layout.display = "" if kind == VIDEO else "none"
        self.realtime.layout.display = "" if kind == VIDEO else "none"
        # The webcam must be on the page for the browser to deliver its frames; it is
        # also the annotated view, so the image view is only for the other sources.
        self.camera_box.children = [self.camera] if kind == BROWSER else []
        if kind == BROWSER:
            set_image(self.view, b"")

    def _on_detector(self, _change: dict) -> None:
        self._show_detector_note()
        # A running loop switches at once (a restart: the source is opened again).
        if self.running:
            self.start()

    def _show_detector_note(self) -> None:
        note = DETECTOR_NOTES.get(self.detector.value, "")
        self.detector_note.value = (
            f"<span style='color:#8a6d00'>{html.escape(note)}</span>" if note else ""
        )

    def _make_source(self) -> Any:
        from workbench.live import CameraSource, VideoFileSource, WebcamSource

        kind = self.source.value
        if kind == BROWSER:
            return WebcamSource(self.camera)
        if kind == LOCAL:
            return CameraSource(int(self.camera_index.value))
        if not self.video.value.strip():
            raise InvalidArgumentError("type the path of a video file (or a stream URL)")
        return VideoFileSource(self.video.value.strip(), realtime=bool(self.realtime.value))

    def _get_detector(self) -> Detector:
        from workbench.detect import create_detector_choice

        name = self.detector.value
        if name not in self._detectors:
            self._detectors[name] = create_detector_choice(name)
        return self._detectors[name]

    # Lifecycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.live is not None and self.live.running

    def start(self) -> None:
        """Start the loop on the chosen source and detector (stops a running one first)."""
        from workbench.live import LiveRecognizer
        from workbench.recognize import Recognizer

        restarting = self.running
        self._stop(restarting=restarting)
        self.threshold_label.value = threshold_html(self.gallery)
        recognizer = Recognizer(self._get_detector(), self.embedder, self.gallery)
        source = self._make_source()
        browser = self.source.value == BROWSER
        self._overlay_camera = self.camera if browser else None
        self._keeper = _keeper_for(
            self.gallery, recognizer.detector, self.source.value, embedder=recognizer.embedder
        )
        self.live = LiveRecognizer(source, recognizer, on_result=self._on_result)
        if browser:
            self.camera.streaming = True
        self.live.start()
        self.start_button.disabled = True
        self.stop_button.disabled = False
        what = f"{self.detector.value} on the {self.source.value}"
        if restarting:
            self.stats.value = html.escape(f"switching to {what}...")
        self.faces.value = f"<i>starting {html.escape(what)}...</i>"
        threading.Thread(target=self._watch, args=(self.live,), daemon=True).start()

    def stop(self) -> None:
        """Stop the loop and join its threads; a thread's exception is shown."""
        self._stop()

    def _stop(self, *, restarting: bool = False) -> None:
        live, self.live = self.live, None
        try:
            if live is not None:
                try:
                    live.stop()
                    if self._keeper is not None:
                        self._keeper.flush()  # the unknown faces still queued
                finally:
                    # The threads are joined: no result can draw stale boxes or names
                    # after this.
                    self._clear_overlays()
                    if self._camera is not None and not restarting:
                        self._camera.streaming = False
                    self._set_unknown([])
                    self._set_named([])
                    if not restarting:  # a restart says "switching", not "ended"
                        # Not "in view" any more: what was seen last, said as such.
                        last = self.faces_text
                        if last.startswith("in view: "):
                            last = "not running; last in view: " + last[len("in view: ") :]
                        else:
                            last = "not running"
                        self.faces_text = last
                        self.faces.value = f"<i>{html.escape(last)}</i>"
                        self.stats.value = html.escape(
                            f"{self._stats_text(live)} · ended: {live.end_reason}"
                        )
        finally:
            self.start_button.disabled = False
            self.stop_button.disabled = True

    def wait(self, timeout: float) -> bool:
        """Block until the loop ends or ``timeout`` seconds pass (for scripts and tests);
        True when it ended."""
        live = self.live
        return True if live is None else live.wait(timeout)

    def close(self) -> None:
        """Stop, close the detectors this panel made and its browser camera widget."""
        self.stop()
        for detector in self._detectors.values():
            detector.close()
        self._detectors.clear()
        camera, self._camera = self._camera, None
        if camera is not None:
            self.camera_box.children = []
            camera.close()

    def _watch(self, live: LiveRecognizer) -> None:
        """Show how a loop ended on its own (source over, error) without a Stop click."""
        live.wait()
        if self.live is live:
            try:
                self.stop()
            except Exception as exc:  # noqa: BLE001 - shown in the panel
                self.errors.show(exc)

    # Worker-thread callback -------------------------------------------------------------

    def _on_result(self, result: LiveResult) -> None:
        keeper = self._keeper
        if keeper is not None:
            keeper(result)  # unknown tracks' best faces, for the people panel (notebook 06)
        camera = self._overlay_camera
        if camera is not None:
            # A small JSON list per result; the browser draws it over the live preview.
            camera.overlays = overlays_for(result)
        # Every result, not only the shown ones: when the stream ends, "last in view" must
        # be the last frame's, not that of the last frame the view rate let through.
        self.faces_text = faces_text(result)
        now = time.monotonic()
        if now - self._last_view < 1.0 / MAX_VIEW_FPS:
            return
        self._last_view = now
        live = self.live
        if camera is None:
            from workbench.live.draw import draw_result

            stats = live.stats() if live is not None else None
            set_image(self.view, encode_image(draw_result(result, stats=stats), quality=80))
        if live is None:
            return  # stopped meanwhile: "not running" stays
        self.stats.value = html.escape(self._stats_text(live))
        self.faces.value = _faces_html(result)
        named = result.named
        # "Who is this?" offers the unknown tracks and the "X or Y?" ones (the user's
        # answer settles which look-alike it is); "Not X" only tracks named X.
        self._set_unknown(
            [
                (f"track {int(t)}" if n == UNKNOWN else f"track {int(t)}: {n}", int(t))
                for t, n, k in zip(result.track_ids, result.names, named, strict=True)
                if not k and t >= 0
            ]
        )
        self._set_named(
            [
                (f"track {int(t)}: {n}", int(t))
                for t, n, k in zip(result.track_ids, result.names, named, strict=True)
                if k and t >= 0
            ]
        )

    def _set_unknown(self, options: list[tuple[str, int]]) -> None:
        if options != [tuple(o) for o in self.unknown.options]:
            self.unknown.options = options
        self.enroll_button.disabled = not options

    def _set_named(self, options: list[tuple[str, int]]) -> None:
        if options != [tuple(o) for o in self.named.options]:
            self.named.options = options
        self.reject_button.disabled = not options

    def reject_track(self, track_id: int) -> str:
        """ "This is not X" for a named track in the latest frame: its face is stored as a
        correction of X (:meth:`Gallery.reject`); returns X.

        Raises:
            InvalidArgumentError: nothing running, or the track is not named in view.
        """
        from workbench.pipeline import embed_faces

        result = self.live.latest() if self.live is not None else None
        if result is None:
            raise InvalidArgumentError("start the live view first: there is no frame yet")
        hits = np.flatnonzero(result.track_ids == track_id)
        if not len(hits) or not result.named[hits[0]] or result.detections is None:
            raise InvalidArgumentError(f"track {track_id} is not named in the latest frame")
        name = result.names[hits[0]]
        face = result.detections[hits[:1]]
        detector = self._get_detector()
        vector = embed_faces(result.image, face, detector=detector, embedder=self.embedder)
        self.gallery.reject(vector, name, source=f"live panel: {self.source.value}")
        return name

    def _on_reject(self, _button: Any = None) -> None:
        if self.named.value is None:
            raise InvalidArgumentError("no named face is in view to correct")
        name = self.reject_track(int(self.named.value))
        self.faces.value += f"<p>noted: that is not {html.escape(name)}</p>"
        self.faces_text += f"\nnoted: that is not {name}"

    def summary(self) -> str:
        """The faces in view and the frame rates, as plain text (for a script or a cell;
        the panel shows the same)."""
        import re

        stats = html.unescape(re.sub(r"<[^>]+>", "", self.stats.value))
        return f"{self.faces_text}\n{stats}".strip()

    def _clear_overlays(self) -> None:
        camera, self._overlay_camera = self._overlay_camera, None
        if camera is not None and camera.overlays:
            camera.overlays = []

    @staticmethod
    def _stats_text(live: LiveRecognizer) -> str:
        """One plain-text line of the loop's figures."""
        s = live.stats()
        return (
            f"captured {s.frames_captured} ({s.capture_fps:.1f}/s) · processed "
            f"{s.frames_processed} ({s.processed_fps:.1f}/s) · dropped "
            f"{s.frames_dropped} · detect {s.detect_ms:.0f} ms · embed "
            f"{s.embed_ms:.0f} ms · latency p50 {s.latency_p50_ms:.0f} / p95 "
            f"{s.latency_p95_ms:.0f} ms"
            + (
                f" · gallery unreachable, naming from its last snapshot: {s.gallery_problem}"
                if s.gallery_problem
                else ""
            )
        )

    # "Who is this?" ---------------------------------------------------------------------

    def enroll_track(self, track_id: int, name: str) -> int:
        """Enroll the face of a track in the latest frame under ``name``, with the faces
        that track left among the unknowns, in one transaction (the people panel's
        naming path, :meth:`Gallery.name_faces`); returns the new face id of the face in
        view. The tracker picks the name up at the track's next refresh.

        Raises:
            InvalidNameError: a bad name.
            InvalidArgumentError: nothing running or the track is not in the latest frame.
            GalleryError: the write failed: nothing of it is stored.
        """
        from workbench.gallery import FaceBatch
        from workbench.gallery.names import validate_name
        from workbench.pipeline import embed_faces, pick_face

        name = validate_name(name)
        result = self.live.latest() if self.live is not None else None
        if result is None:
            raise InvalidArgumentError("start the live view first: there is no frame yet")
        hits = np.flatnonzero(result.track_ids == track_id)
        if not len(hits):
            raise InvalidArgumentError(f"track {track_id} is not in the latest frame any more")
        detector = self._get_detector()
        # The loop's own detection of the track's face (no second detection); a result
        # without them falls back to the detection overlapping the track's box most. One
        # face of a live frame, not a photo: no photo is saved and no file to dedupe.
        if result.detections is not None:
            face = result.detections[hits[:1]]
        else:
            face = pick_face(detector.detect(result.image), result.boxes[hits[0]])
        if not len(face):
            raise InvalidArgumentError("no face found in the latest frame; try again")
        vector = embed_faces(result.image, face, detector=detector, embedder=self.embedder)
        in_view = FaceBatch(
            name,
            vector,
            boxes=[face.xyxy[0]],
            detector=getattr(detector, "name", None),
            scores=[float(face.scores[0])],
        )
        keeper = self._keeper
        kept: list[int] = []
        if keeper is not None:
            # Marked first, so that the worker keeps no more of this track meanwhile; the
            # queue is written (the keeper's own routine write) so that every face the
            # track left is stored and named below.
            keeper.named_tracks.add(int(track_id))
            keeper.flush()
            key = f"{keeper.run}#{track_id}"
            kept = [u.id for u in self.gallery.unknowns() if u.track == key]
        try:
            # One transaction: the face in view and the track's kept faces above the
            # quality floor enrolled, all of the kept faces gone from the unknowns.
            named = self.gallery.name_faces(kept, name, also=in_view)
        except BaseException:
            if keeper is not None:
                keeper.named_tracks.discard(int(track_id))  # still nobody: keep its faces
            raise
        self.threshold_label.value = threshold_html(self.gallery)  # enrollment re-derived it
        return named.enrolled[0]

    def _on_enroll_unknown(self, _button: Any = None) -> None:
        if self.unknown.value is None:
            raise InvalidArgumentError("no unknown face is in view to enroll")
        name = self.new_name.value
        self.enroll_track(int(self.unknown.value), name)
        self.faces.value += f"<p>enrolled {html.escape(name.strip())}</p>"
        self.faces_text += f"\nenrolled {name.strip()}"
        self.new_name.value = ""


def overlays_for(result: LiveResult) -> list[dict[str, Any]]:
    """A result's faces as :attr:`WebcamWidget.overlays <workbench.live.WebcamWidget>`
    items: box in frame pixels, ``name distance`` label, green for a name, amber for
    ``"X or Y?"``, orange for ``unknown`` (:func:`workbench.live.draw.label_color`, as
    :func:`~workbench.live.draw.draw_faces` draws them)."""
    from workbench.live.draw import label_color

    items = []
    for box, name, d in zip(result.boxes, result.names, result.distances, strict=True):
        rgb = label_color(name)
        items.append(
            {
                "box": [round(float(v), 1) for v in box],
                "label": name if np.isnan(d) else f"{name} {float(d):.2f}",
                "color": "#{:02x}{:02x}{:02x}".format(*rgb),
            }
        )
    return items


def faces_text(result: LiveResult) -> str:
    """``in view: alice (0.41), unknown`` (or ``no face in view``), plain text."""
    if not len(result):
        return "no face in view"
    items = [
        name if np.isnan(d) else f"{name} ({float(d):.2f})"
        for name, d in zip(result.names, result.distances, strict=True)
    ]
    return "in view: " + ", ".join(items)


def _faces_html(result: LiveResult) -> str:
    if not len(result):
        return "<span class='wb-faces'>no face in view</span>"
    items = []
    for name, d in zip(result.names, result.distances, strict=True):
        dist = "" if np.isnan(d) else f" ({float(d):.2f})"
        items.append(f"<b>{html.escape(name)}</b>{dist}")
    return "<span class='wb-faces'>in view: " + ", ".join(items) + "</span>"


def _keeper_for(gallery, detector, source: str, *, embedder=None):
    """The keeper of a run's unknown faces, or ``None`` when the gallery keeps none
    (``embedder``: the recognizer's, which completes a fused gallery's faces it keeps)."""
    from workbench.gallery import Gallery
    from workbench.recognize import UnknownsKeeper

    if not isinstance(gallery, Gallery):
        return None
    keeper = UnknownsKeeper(
        gallery, detector=detector, source=f"live panel: {source}", embedder=embedder
    )
    return keeper if keeper.enabled else None
