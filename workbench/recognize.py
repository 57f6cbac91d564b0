"""``Recognizer``: detector + aligner + embedder + gallery, one image at a time.

The steps themselves (pick a face, align, embed; many images in batches) are
:mod:`workbench.pipeline`, re-exported here. The live loop uses the parts separately
(detect every frame, embed only new tracks); everything else calls
:meth:`Recognizer.recognize`.
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.augment import ENROLL_AUGMENT, Augment
from workbench.cascade import BAND_ABOVE, BAND_BELOW, check_band
from workbench.detect.base import as_rgb
from workbench.detect.mediapipe_detector import Range
from workbench.errors import InvalidArgumentError
from workbench.faces import UNKNOWN, FaceDetections
from workbench.images import ImageInput
from workbench.pipeline import (
    PICKS,
    FaceChips,
    FaceRecognizer,
    Pick,
    align,
    embed_chips,
    embed_faces,
    face_chips,
    needs_photo,
    pick_face,
    picked_faces,
    too_small,
)

#: Smallest face (detection box height, pixels of the image it was found in) that is
#: named; a smaller one is drawn but kept ``unknown`` (``"too_small": true`` in JSON).
#: From benchmarks/small_face_video.py and benchmarks/small_face_naming.py
#: (docs/benchmarks/small_face_naming.md): below it, strangers in the crowd video were
#: accepted far more often than the gallery's target false-accept rate.
MIN_FACE_PX = 40.0

if TYPE_CHECKING:
    from workbench.detect.base import Detector
    from workbench.embed.embedder import FaceEmbedder
    from workbench.gallery import Gallery, Match
    from workbench.mesh import FaceMesh


@dataclass(frozen=True)
class Recognition:
    """Faces in one image and who they are.

    Attributes:
        detections: the faces found.
        matches: one match per face (``.label`` is the name, ``"X or Y?"`` or
            ``"unknown"``).
        embeddings: ``(n, D)`` float32 embeddings of the faces (``D`` = 128 for dlib's
            network, 320 fused; with the fused gallery's cascade a face MobileFaceNet did
            not see has zeros in its part, :class:`workbench.cascade.CascadeResult`: the
            :class:`UnknownsKeeper` completes those it stores).
    """

    detections: FaceDetections
    matches: list[Match]
    embeddings: np.ndarray
    chips: np.ndarray | None = field(default=None, repr=False)

    @property
    def unknown(self) -> np.ndarray:
        """``(n,)`` bool, the faces no enrolled person was accepted for and that are no
        "X or Y?" either (:attr:`Match.ambiguous <workbench.gallery.Match.ambiguous>`):
        the faces kept as unknowns. An "X or Y?" face is not kept: it is one of two
        enrolled people (measured: ``docs/benchmarks/lookalike.md``), not somebody the
        user has not named yet, and its track would fill the people panel with
        proposals of people already named."""
        return np.array([not (m.accepted or m.ambiguous) for m in self.matches], bool).reshape(
            len(self.matches)
        )

    def to_dicts(self) -> list[dict[str, Any]]:
        """JSON-ready faces: box, name (or ``"unknown"``), distance, accepted, too_small
        (below :data:`MIN_FACE_PX`: kept ``unknown`` however near), candidates (the two
        look-alikes of an "X or Y?" face, nearest first, whose ``name`` is then
        ``"unknown"``; else ``None``)."""
        out = []
        for i, match in enumerate(self.matches):
            out.append(
                {
                    "box": [round(float(v), 1) for v in self.detections.xyxy[i]],
                    # Only a confident name: a script that counts the named faces must not
                    # count an "X or Y?" as X (the candidates say who it may be).
                    "name": match.name if match.accepted and match.name else UNKNOWN,
                    "distance": None if match.distance is None else round(float(match.distance), 4),
                    "accepted": bool(match.accepted),
                    "too_small": bool(match.too_small),
                    "candidates": None if match.candidates is None else list(match.candidates),
                }
            )
        return out


class Recognizer:
    """Finds faces and names them against a gallery.

    Args:
        detector: a :class:`workbench.detect.Detector`.
        embedder: a :class:`workbench.embed.Embedder`.
        gallery: a :class:`workbench.gallery.Gallery`, or ``None`` to only detect and embed
            (enrollment needs no gallery to search).
        min_face_px: faces whose box is less tall than this are not named
            (:data:`MIN_FACE_PX`; 0 names every face).
        mesh: the :class:`workbench.mesh.FaceMesh` that tells a face's yaw
            (:meth:`yaw`); the process's shared one if omitted.
        cascade: with the fused embedder and a gallery, MobileFaceNet runs only for
            faces whose dlib distance lies within the band around dlib's threshold
            (:mod:`workbench.cascade`; and for the unknowns kept); ``False`` runs both
            models on every face.
        band_below, band_above: how far the band reaches below and above dlib's
            threshold (:data:`workbench.cascade.BAND_BELOW`, :data:`~workbench.cascade.BAND_ABOVE`).

    The recognizer does not own its parts: closing them is the caller's job (or use
    :func:`open_recognizer`).
    """

    def __init__(
        self,
        detector: Detector,
        embedder: FaceEmbedder,
        gallery: Gallery | None = None,
        *,
        enroll_augment: Augment | None = None,
        min_face_px: float = MIN_FACE_PX,
        mesh: FaceMesh | None = None,
        cascade: bool = True,
        band_below: float = BAND_BELOW,
        band_above: float = BAND_ABOVE,
    ) -> None:
        self.cascade = bool(cascade)
        self.band_below, self.band_above = check_band(band_below, band_above)
        # Bumped on the live worker thread, read by callers: under a lock.
        self._cascade_counts = {"faces": 0, "second": 0, "complete": 0}
        self._counts_lock = threading.Lock()
        self.detector = detector
        self.mesh = mesh
        self._mesh_problem: str | None = None
        self.min_face_px = float(min_face_px)
        self.embedder = embedder
        self.gallery = gallery
        self.enroll_augment = ENROLL_AUGMENT if enroll_augment is None else enroll_augment

    def detect(self, image: ImageInput, *, near: np.ndarray | None = None) -> FaceDetections:
        """Faces in one image.

        ``near``: boxes where faces are expected (a video's live tracks), for a detector
        whose small-face search can narrow to them (MediaPipe's ``auto`` and ``tiled``:
        :meth:`~workbench.detect.mediapipe_detector.MediaPipeDetector.detect`); other
        detectors search the whole image as without it.
        """
        if near is not None and self.searches_near:
            return self.detector.detect(image, near=near)
        return self.detector.detect(image)

    @property
    def searches_near(self) -> bool:
        """Whether the detector takes ``near=`` (and the narrowing can save anything)."""
        return "near" in inspect.signature(self.detector.detect).parameters and getattr(
            getattr(self.detector, "options", None), "range", None
        ) in (Range.AUTO, Range.TILED)

    def chips(self, image: ImageInput, detections: FaceDetections) -> np.ndarray:
        """``(n, 150, 150, 3)`` uint8 aligned chips of the given faces of ``image``, with
        this detector's template (many images: :func:`workbench.pipeline.face_chips`)."""
        return align(image, detections, detector=self.detector)

    def embed(self, image: ImageInput, detections: FaceDetections) -> np.ndarray:
        """``(n, 128)`` float32 embeddings of the given faces of ``image``."""
        return embed_faces(image, detections, detector=self.detector, embedder=self.embedder)

    def enrollment_chips(self, image: ImageInput, detections: FaceDetections) -> np.ndarray:
        """``(n, k, 150, 150, 3)`` uint8: the chips of each face whose embeddings are
        averaged into its gallery embedding (:attr:`enroll_augment`; ``k = 1`` without
        augmentation)."""
        from workbench.align import template_for
        from workbench.augment import augmented_chips

        image = as_rgb(image)
        a = self.enroll_augment
        out = [
            augmented_chips(
                image, kp, template=template_for(self.detector), jitter=a.jitter, flip=a.flip
            )
            for kp in np.asarray(detections.keypoints)
        ]
        k = a.chips_per_face
        return np.stack(out) if out else np.zeros((0, k, 150, 150, 3), np.uint8)

    def too_small(self, detections: FaceDetections) -> np.ndarray:
        """``(n,)`` bool: the faces below :attr:`min_face_px` (not named, not kept as
        unknowns; :func:`workbench.pipeline.too_small`)."""
        return too_small(detections.xyxy, self.min_face_px)

    def yaw(self, image: ImageInput, detections: FaceDetections) -> np.ndarray:
        """``(n,)`` float32 yaw in degrees of each face (:mod:`workbench.mesh`), so
        enrollment can say which views of a person it has; NaN each when the mesh model
        cannot be had (then not tried again by this recognizer: enrollment goes on)."""
        from workbench.errors import DetectorError, ModelAssetError
        from workbench.mesh import default_mesh

        if self._mesh_problem is None:
            try:
                return (self.mesh or default_mesh()).run(image, detections).yaw
            except (ModelAssetError, DetectorError) as exc:
                self._mesh_problem = str(exc)
        return np.full(len(detections), np.nan, np.float32)

    @property
    def cascade_counts(self) -> dict[str, int]:
        """Faces through the cascade (``faces``) and how many of them stage 2 (the mirror
        chip's dlib vector and MobileFaceNet) decided (``second``, = ``complete``): a
        copy, safe to read while the live worker adds to it. The faces the unknowns
        keeper completes are its own count (:attr:`UnknownsKeeper.counts`)."""
        with self._counts_lock:
            return dict(self._cascade_counts)

    @property
    def cascade_active(self) -> bool:
        """Whether :meth:`embed_identify` runs the cascade (fused embedder, a gallery,
        :attr:`cascade` on)."""
        from workbench.embed.fused import FusedEmbedder

        return (
            self.cascade and self.gallery is not None and isinstance(self.embedder, FusedEmbedder)
        )

    def embed_identify(
        self, image: ImageInput, detections: FaceDetections, *, chips: np.ndarray | None = None
    ) -> tuple[np.ndarray, list[Match]]:
        """``(embeddings, matches)`` of the given faces: :meth:`embed` then
        :meth:`identify`, or the cascade (:attr:`cascade_active`) whose embeddings of
        faces MobileFaceNet did not see hold zeros in its part
        (:class:`workbench.cascade.CascadeResult`; the :class:`UnknownsKeeper` completes
        those it stores)."""
        if not self.cascade_active:
            if chips is not None and not needs_photo(self.embedder):
                embeddings = embed_chips(chips, embedder=self.embedder)
            else:
                embeddings = self.embed(image, detections)
            return embeddings, self.identify(embeddings, detections=detections)
        from workbench.cascade import run_cascade

        image = as_rgb(image)
        if chips is None:
            chips = self.chips(image, detections)
        small = (
            self.too_small(detections) if self.min_face_px > 0 else np.zeros(len(detections), bool)
        )
        result = run_cascade(
            self.gallery,
            self.embedder,
            image,
            np.asarray(detections.keypoints),
            chips,
            below=self.band_below,
            above=self.band_above,
            skip=small,
        )
        with self._counts_lock:
            counts = self._cascade_counts
            counts["faces"] += len(detections)
            counts["second"] += int(result.second.sum())
            counts["complete"] += int(result.complete.sum())
        matches = [
            dataclasses.replace(m, accepted=False, too_small=True, rival=None) if sm else m
            for m, sm in zip(result.matches, small, strict=True)
        ]
        return result.embeddings, matches

    def identify(
        self, embeddings: np.ndarray, *, detections: FaceDetections | None = None
    ) -> list[Match]:
        """The best gallery match of each embedding; with the ``detections`` they came
        from, a face smaller than :attr:`min_face_px` is not accepted (``too_small``):
        a tiny face upsampled to the chip lands near strangers' enrolled faces."""
        if self.gallery is None:
            raise ValueError("this recognizer has no gallery to identify against")
        if not len(embeddings):
            return []
        matches = self.gallery.search(embeddings, k=1).best()
        if detections is None or self.min_face_px <= 0:
            return matches
        return [
            dataclasses.replace(m, accepted=False, too_small=True, rival=None) if small else m
            for m, small in zip(matches, self.too_small(detections), strict=True)
        ]

    def recognize(self, image: ImageInput) -> Recognition:
        """Detect, align, embed and identify every face in ``image``."""
        image = as_rgb(image)
        detections = self.detect(image)
        if not len(detections):
            return Recognition(detections, [], np.zeros((0, 128), np.float32))
        # The chips are kept: the unknown faces among them are stored with a thumbnail.
        chips = self.chips(image, detections)
        if self.gallery is None:
            raise ValueError("this recognizer has no gallery to identify against")
        embeddings, matches = self.embed_identify(image, detections, chips=chips)
        return Recognition(detections, matches, embeddings, chips)


@dataclass(frozen=True)
class KeeperCounts:
    """What an :class:`UnknownsKeeper` did with the faces it was given.

    Attributes:
        offered: faces queued for the gallery.
        passed_over: faces not queued because the gallery would drop them at once (their
            track already has its ``per_track`` faces from this run at least as good).
        displaced: queued faces left out of their write because a later, better face of
            their track in the same batch took their place (the gallery would have
            dropped them in that write): never completed, never written.
        completed: faces whose fused vector the keeper completed (MobileFaceNet and the
            mirror chip's dlib vector ran for each: the cascade leaves them out of the
            faces dlib decided alone).
        named: completed faces not written because the gallery's own search on the full
            vector names somebody (accepted, or an "X or Y?"): dlib turned them away, the
            full vector would not have (kept, they would be proposed as new people).
        complete_ms: milliseconds spent completing them and searching the full vectors.
    """

    offered: int = 0
    passed_over: int = 0
    displaced: int = 0
    completed: int = 0
    named: int = 0
    complete_ms: float = 0.0


class UnknownsKeeper:
    """Stores the faces nobody could name in the gallery, in batches (one transaction
    per batch, not one per frame), with a thumbnail of each chip.

    What is kept is the gallery's :class:`~workbench.gallery.UnknownsPolicy` (a track's
    best few faces, bounded count and age, or nothing at all). The keeper is a no-op when
    the policy keeps no unknowns or the gallery cannot store them (an old read-only file).

    A fused gallery's cascade (:mod:`workbench.cascade`) leaves the faces dlib turned away
    without MobileFaceNet's part (zeros there). The keeper completes only the faces it
    writes: per track of its run it remembers the best faces it queued by the gallery's
    own quality (:func:`workbench.gallery.unknowns.face_quality`, which needs no
    embedding) and passes over a face the gallery would drop at once (a track keeps its
    ``per_track`` best, ties to the earlier face); a queued face keeps its ArcFace chip,
    and is completed when its batch is written, unless a later, better face of its track
    in that batch displaced it. So a stranger followed over many frames costs MobileFaceNet
    for a few of them. A face with no track (a photo, or a video without tracking) is
    always stored, so always completed. The completed vectors of one write are searched
    in the gallery at once (the search recognition runs on a full vector), and a face it
    names (accepted, or "X or Y?") is not written (:attr:`KeeperCounts.named`): dlib alone
    turned it away, the full vector says it is an enrolled person, whom the proposals
    would otherwise offer as somebody new (it keeps its place among its track's best, so
    the track's worse faces are still passed over). (The keeper counts a track's faces as stored
    until the run ends: should the gallery's count or age bound remove some of them
    meanwhile, it may pass over a face the gallery would then have kept.)

    Args:
        gallery: the gallery searched.
        detector: the detector that found the faces (its template aligns the chips).
        source: the photo, video or camera name stored with each face.
        embedder: the recognizer's embedder: with a fused one the keeper completes the
            vectors it stores (a keeper without one refuses an incomplete vector).
        enabled: ``False`` stores nothing (``--no-unknowns``).
        batch: faces buffered before a write; ``max_wait_s``: or this long.

    Example:
        >>> with UnknownsKeeper(g, detector=det, source="cam", embedder=e) as k:  # doctest: +SKIP
        ...     k.offer_recognition(rec.recognize(frame), image=frame, frame=i)
    """

    def __init__(
        self,
        gallery: Gallery,
        *,
        detector: Detector,
        source: str | None,
        embedder: FaceEmbedder | None = None,
        enabled: bool = True,
        batch: int = 32,
        max_wait_s: float = 5.0,
    ) -> None:
        from workbench.gallery import store

        self.gallery = gallery
        self.detector = detector
        self.source = source
        self.embedder = embedder
        self.enabled = bool(
            enabled
            and gallery.unknowns_policy.keep
            and gallery.meta.get("schema_version") == str(store.SCHEMA_VERSION)
        )
        self.batch = int(batch)
        self.max_wait_s = float(max_wait_s)
        # Track ids restart at 1 in every run: the run's start time tells runs apart.
        self.run = store.now()
        self._ids: list[int] = []
        #: Track ids named during the run: their later faces are not unknown any more.
        self.named_tracks: set[int] = set()
        # offer() runs on the live worker thread, flush() also on the caller's.
        self._lock = threading.Lock()
        self._pending: list[dict] = []
        self._count = 0
        self._last = time.monotonic()
        # Per track of this run: (-quality, order queued) of its best faces, best first
        # (the gallery's order: quality, then the earlier face).
        self._best: dict[str, list[tuple[float, int]]] = {}
        self._queued = 0
        self._counts = KeeperCounts()

    @property
    def counts(self) -> KeeperCounts:
        """What this keeper did so far (safe to read while the live worker offers)."""
        with self._lock:
            return self._counts

    def offer(
        self,
        image: np.ndarray | None,
        detections: FaceDetections,
        embeddings: np.ndarray,
        *,
        chips: np.ndarray | None = None,
        frame: int | None = None,
        track_ids: np.ndarray | None = None,
    ) -> None:
        """Queue these faces (already known to be unknown) of one image or frame, but for
        those their track would drop at once. A fused vector the cascade left without
        MobileFaceNet is completed when its batch is written (``image`` is needed for
        its ArcFace chip, and when ``chips`` is not given).

        Raises:
            InvalidArgumentError: an incomplete fused vector and no fused ``embedder``
                (or no ``image``) to complete it: half a vector is never stored.
        """
        if not self.enabled or not len(detections):
            return
        vectors = np.asarray(embeddings, np.float32)
        missing = self._incomplete(vectors)
        if missing.any() and not hasattr(self.embedder, "complete_chips"):
            raise InvalidArgumentError(
                f"{int(missing.sum())} of these {len(vectors)} unknown faces' fused vectors "
                "lack MobileFaceNet's part (the cascade's first stage) and this keeper has no "
                "fused embedder to complete them: pass UnknownsKeeper(embedder=...)"
            )
        if missing.any() and image is None:
            raise InvalidArgumentError(
                "completing a fused vector needs the photo or frame: pass image="
            )
        if chips is None:
            chips = self.chips_of(image, detections)
        boxes = np.asarray(detections.xyxy, np.float64)
        scores = np.asarray(detections.scores, np.float64)
        tracks = (
            [None] * len(detections)
            if track_ids is None
            else [f"{self.run}#{int(t)}" if int(t) >= 0 else None for t in track_ids]
        )
        order = self._would_keep(tracks, scores, boxes, chips)
        idx = np.flatnonzero(order >= -1)
        passed_over = len(tracks) - int(idx.size)
        if idx.size < len(tracks):
            vectors, chips, boxes, scores = vectors[idx], chips[idx], boxes[idx], scores[idx]
            detections, missing, order = detections[idx], missing[idx], order[idx]
            tracks = [tracks[i] for i in idx]
        arc = None
        if missing.any():  # the ArcFace chip now: the frame is not kept until the write
            arc = np.zeros((len(tracks), 112, 112, 3), np.uint8)
            arc[missing] = self.embedder.arcface_chips(
                as_rgb(image), np.asarray(detections.keypoints)[missing]
            )
        with self._lock:
            c = self._counts
            self._counts = dataclasses.replace(
                c, offered=c.offered + len(tracks), passed_over=c.passed_over + passed_over
            )
            if not tracks:
                return
            self._pending.append(
                {
                    "embeddings": vectors,
                    "chips": chips,
                    "boxes": boxes,
                    "scores": scores,
                    "frames": [frame] * len(tracks),
                    "tracks": tracks,
                    "order": order,
                    "missing": missing,
                    "arc": arc,
                }
            )
            self._count += len(tracks)
            due = self._count >= self.batch or time.monotonic() - self._last >= self.max_wait_s
        if due:
            self.flush()

    def _incomplete(self, vectors: np.ndarray) -> np.ndarray:
        """``(n,)`` bool: fused vectors with zeros for MobileFaceNet's part."""
        from workbench.embed.fused import FUSED_DIM, FusedEmbedder
        from workbench.gallery.types import is_fused

        model = getattr(self.gallery, "model_id", None)
        if not is_fused(model) or vectors.ndim != 2 or vectors.shape[1] != FUSED_DIM:
            return np.zeros(len(vectors), bool)
        return ~FusedEmbedder.is_complete(vectors)

    def _would_keep(self, tracks, scores, boxes, chips) -> np.ndarray:
        """``(n,)`` int64: each face's place in the order queued (``-1``: no track, always
        kept; ``-2``: passed over), remembering the faces kept among their track's best.

        The gallery keeps a track's ``per_track`` best faces by quality, an earlier face
        before a later one of equal quality (``store.keep_best_of_track``): a face whose
        track already has ``per_track`` queued faces at least as good is dropped on
        arrival. The quality is the gallery's own (:func:`face_quality` of the same
        scores, boxes and chips)."""
        from workbench.gallery.unknowns import face_quality

        n = len(tracks)
        order = np.full(n, -1, np.int64)
        if all(t is None for t in tracks):
            return order
        per_track = int(self.gallery.unknowns_policy.per_track)
        quality = face_quality(scores=scores, boxes=boxes, chips=chips, n=n)
        with self._lock:
            for i, track in enumerate(tracks):
                if track is None:
                    continue
                best = self._best.setdefault(track, [])
                key = (-float(quality[i]), self._queued)
                if len(best) >= per_track and key > best[per_track - 1]:
                    order[i] = -2
                    continue
                order[i] = self._queued
                self._queued += 1
                best.append(key)
                best.sort()
                del best[per_track:]
        return order

    def chips_of(self, image: np.ndarray, detections: FaceDetections) -> np.ndarray:
        return align(as_rgb(image), detections, detector=self.detector)

    def offer_recognition(
        self,
        recognition: Recognition,
        *,
        image: np.ndarray | None = None,
        frame: int | None = None,
        track_ids: np.ndarray | None = None,
    ) -> None:
        """Queue the unknown faces of a :meth:`Recognizer.recognize` result (``image``: the
        image recognized, needed when the result carries no chips and to complete a fused
        gallery's vectors; ``track_ids`` one per face). Faces the size gate refused
        (``too_small``) are not kept: they would cluster as noise."""
        small = np.array([m.too_small for m in recognition.matches], bool)
        idx = np.flatnonzero(recognition.unknown & ~small.reshape(recognition.unknown.shape))
        if not self.enabled or not idx.size:
            return
        self.offer(
            image,
            recognition.detections[idx],
            recognition.embeddings[idx],
            chips=None if recognition.chips is None else recognition.chips[idx],
            frame=frame,
            track_ids=None if track_ids is None else np.asarray(track_ids)[idx],
        )

    def __call__(self, result) -> None:
        """A live loop ``on_result`` callback: the faces embedded on this frame that this
        frame's recognition found nobody for, on a track that is (still) unknown."""
        if not self.enabled or result.detections is None or result.embeddings is None:
            return
        embedded = np.flatnonzero(result.embedded)
        # A face the gallery named whose track awaits a second, agreeing recognition
        # shows "unknown" but is somebody's: keeping it would propose an enrolled person.
        own = getattr(result, "recognized", None)
        rows = [
            j
            for j, i in enumerate(embedded)
            if result.names[i] == UNKNOWN
            and (own is None or own[j] == UNKNOWN)
            and int(result.track_ids[i]) not in self.named_tracks
            and not result.is_too_small(i)  # the size gate: too small to cluster
        ]
        if not rows:
            return
        idx = embedded[rows]
        self.offer(
            result.image,
            result.detections[idx],
            result.embeddings[rows],
            frame=result.frame_id,
            track_ids=result.track_ids[idx],
        )

    def flush(self) -> int:
        """Write what is queued (one transaction), its fused vectors completed first;
        returns how many faces stayed stored."""
        with self._lock:
            pending, self._pending, self._count = self._pending, [], 0
            self._last = time.monotonic()
            # A face a later, better face of its track displaced since it was queued is
            # one the gallery would drop in this very write: left out, never completed.
            alive = {t: {k[1] for k in best} for t, best in self._best.items()}
            for p in pending:
                pairs = zip(p["tracks"], p["order"], strict=True)
                p["write"] = np.array([t is None or int(o) in alive[t] for t, o in pairs], bool)
        if not pending:
            return 0
        displaced, completed, named, complete_ms = 0, 0, 0, 0.0
        done = []  # (pending item, rows completed)
        for p in pending:
            write = p["write"]
            displaced += int((~write).sum())
            todo = np.flatnonzero(write & p["missing"])
            if todo.size:
                t0 = time.perf_counter()
                p["embeddings"] = p["embeddings"].copy()
                p["embeddings"][todo] = self.embedder.complete(
                    p["embeddings"][todo], p["chips"][todo], p["arc"][todo]
                )
                completed += int(todo.size)
                complete_ms += (time.perf_counter() - t0) * 1000.0
                done.append((p, todo))
        if done:
            # dlib alone turned these faces away; the full vector may name somebody.
            t0 = time.perf_counter()
            full = np.concatenate([p["embeddings"][todo] for p, todo in done])
            found = self.gallery.search(full, k=1).best()
            somebody = iter([m.accepted or m.ambiguous for m in found])
            for p, todo in done:
                for i in todo:
                    if next(somebody):
                        p["write"][i] = False
                        named += 1
            complete_ms += (time.perf_counter() - t0) * 1000.0
        rows = []
        for p in pending:
            write, vectors = p["write"], p["embeddings"]
            keep = np.flatnonzero(write)
            if keep.size:
                rows.append(
                    (
                        vectors[keep],
                        p["chips"][keep],
                        p["boxes"][keep],
                        p["scores"][keep],
                        [p["frames"][i] for i in keep],
                        [p["tracks"][i] for i in keep],
                    )
                )
        with self._lock:
            c = self._counts
            self._counts = dataclasses.replace(
                c,
                displaced=c.displaced + displaced,
                completed=c.completed + completed,
                named=c.named + named,
                complete_ms=c.complete_ms + complete_ms,
            )
        if not rows:
            return 0
        ids = self.gallery.add_unknowns(
            np.concatenate([r[0] for r in rows]),
            chips=np.concatenate([r[1] for r in rows]),
            source=self.source,
            boxes=np.concatenate([r[2] for r in rows]),
            scores=np.concatenate([r[3] for r in rows]),
            frames=[f for r in rows for f in r[4]],
            tracks=[t for r in rows for t in r[5]],
            detector=getattr(self.detector, "name", None),
        )
        self._ids += ids
        return len(ids)

    @property
    def kept(self) -> int:
        """Faces this keeper stored that are still stored (a track's later, better faces
        replace its earlier ones)."""
        return self.gallery.count_unknowns(self._ids) if self._ids else 0

    def __enter__(self) -> UnknownsKeeper:
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        if exc_type is None:
            self.flush()


class open_recognizer:  # noqa: N801 - used like a function: `with open_recognizer(...) as r`
    """Build a recognizer that owns its detector, embedder and (optional) gallery file,
    and closes them on exit.

    Example:
        >>> with open_recognizer(gallery="gallery.sqlite") as rec:  # doctest: +SKIP
        ...     print(rec.recognize("photo.jpg").to_dicts())
    """

    def __init__(self, *, detector: str = "mediapipe", gallery=None, **detector_options) -> None:
        self._detector_name = detector
        self._detector_options = detector_options
        self._gallery_path = gallery
        self._owned: list = []

    def __enter__(self) -> Recognizer:
        from workbench.detect import create_detector
        from workbench.embed import default_embedder

        try:
            detector = create_detector(self._detector_name, **self._detector_options)
            self._owned.append(detector)
            embedder = default_embedder()
            gallery = None
            if self._gallery_path is not None:
                # The embedder of the gallery's own model (dlib's, or the fused one).
                embedder, gallery = open_gallery(self._gallery_path, create=False)
                self._owned.append(gallery)
            return Recognizer(detector, embedder, gallery)
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc_info) -> None:
        while self._owned:
            self._owned.pop().close()


def open_gallery(path, *, create: bool, embedder: str | None = None):
    """``(embedder, gallery)``: a gallery and the embedder of its model.

    An existing gallery is searched with the model it was made with
    (:func:`workbench.embed.embedder_for`), so a dlib gallery keeps working whatever the
    default; a new one (``create``) gets ``embedder`` (a name of
    :data:`workbench.embed.EMBEDDERS`; default :data:`workbench.embed.DEFAULT_EMBEDDER`).

    Raises:
        GalleryError: no gallery at ``path`` (without ``create``), not a gallery, or a
            gallery of another model than the ``embedder`` named.
    """
    from workbench.embed import DEFAULT_EMBEDDER, create_embedder, embedder_for
    from workbench.errors import GalleryError
    from workbench.gallery import Gallery

    try:
        gallery = Gallery(path, model_id=None, create=False)
    except GalleryError:
        if not create:
            raise
        chosen = create_embedder(embedder or DEFAULT_EMBEDDER)
        return chosen, Gallery(path, model_id=chosen.model_id, create=True)
    try:
        if embedder is None:
            return embedder_for(gallery.model_id), gallery
        chosen = create_embedder(embedder)
        if chosen.model_id != gallery.model_id:
            raise GalleryError(
                f"{gallery.path}: this gallery holds embeddings of model "
                f"{gallery.model_id!r}, but --embedder {embedder} makes {chosen.model_id!r}; "
                "leave --embedder out to use the gallery's own model, or enroll into a new "
                "gallery"
            )
        return chosen, gallery
    except BaseException:
        gallery.close()
        raise


__all__ = [
    "PICKS",
    "FaceChips",
    "FaceRecognizer",
    "Pick",
    "Recognition",
    "Recognizer",
    "KeeperCounts",
    "UnknownsKeeper",
    "align",
    "open_gallery",
    "embed_chips",
    "embed_faces",
    "face_chips",
    "open_recognizer",
    "pick_face",
    "picked_faces",
    "too_small",
]
