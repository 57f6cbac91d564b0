"""dlib's ResNet and MobileFaceNet fused into one vector per face.

The two networks err on different LFW pairs, so a weighted sum of their squared
distances verifies better than either (LFW View 2, 10-fold, MediaPipe: dlib 98.98%,
MobileFaceNet 99.22%, fused 99.50%, McNemar p < 1e-5 against dlib alone;
``benchmarks/lfw_fusion.py``, docs/benchmarks/lfw.md). A sum of squared distances is
itself a squared Euclidean distance, of the concatenated vector::

    v = [sqrt(w) * dlib, sqrt(1 - w) * (s_dlib / s_mfn) * mobilefacenet_unit]
    |v_a - v_b|^2 = w d_dlib^2 + (1 - w) (s_dlib / s_mfn)^2 d_mfn^2

so the gallery, its exact and approximate search and the calibration keep working on
one vector per face (320-D), unchanged. ``w`` and the two spreads ``s`` were fit once, by
ROC area, on pairs of LFW people outside View 2 (140 genuine, 300,000 impostor pairs),
never on View 2's pairs; scaling by ``s_dlib`` keeps distances in dlib's units. Measured
alternatives (plain distances summed, flip on dlib's side) are in the same record.

MobileFaceNet needs its own chip (the ArcFace template, more forehead than dlib's 150x150
chip holds: cut out of dlib's chip it scores 98.28% instead of 99.22%), so this embedder
takes the photo and the keypoints (:meth:`FusedEmbedder.embed_faces`);
:func:`workbench.pipeline.embed_faces` and the recognizer call it. Its
:meth:`FusedEmbedder.embed` of bare 150x150 chips refuses, rather than embed a worse
chip silently.

dlib's part is the mean of dlib's embedding of the chip and of its mirror (MobileFaceNet's
runner flips too: its graph runs two chips a call, so its mirror is free for one face).
On LFW View 2 the flip on dlib's side turns the fused 99.47% (32 errors) into 99.50% (30
errors; McNemar against dlib alone 6/37, p = 1.6e-6); the cascade
(:mod:`workbench.cascade`) keeps it while its first stage embeds one plain dlib chip.

Its :attr:`FusedEmbedder.model_id` differs from dlib's, so a gallery of dlib vectors is
never searched with fused ones (opening it with this embedder says so). The id did not
change when dlib's flip was added: the mean of a chip's and its mirror's dlib vectors is
in dlib's own space (the two lie about 0.1 apart, a sixth of dlib's threshold), so a
fused gallery enrolled before keeps opening and its older vectors keep matching (LFW View
2, an older vector against a newer one: 99.43%, 34 errors, against 99.47% and 99.50% for
the two pipelines on their own; docs/benchmarks/lfw.md). Its threshold prior moved by
0.004-0.008 (:data:`workbench.gallery.calibrate.PRIOR_THRESHOLDS_FUSED`, derived again);
a gallery takes it up at its next enrollment or calibration.
"""

from __future__ import annotations

import threading

import numpy as np

from workbench.errors import InvalidArgumentError

#: dlib's share of the squared distance, fit on LFW people outside View 2.
FUSION_WEIGHT = 0.625
#: Spread (standard deviation) of each model's pair distances on those pairs.
DLIB_SPREAD = 0.08979
MFN_SPREAD = 0.10522
#: Width of the fused vector: dlib's 128 and MobileFaceNet's 192.
FUSED_DIM = 128 + 192
#: Distance below which two fused vectors are the same person before any calibration,
#: as dlib's 0.6 is for its vectors: the LFW View 2 10-fold threshold (0.754 with dlib's
#: flip, 0.769 before it; the calibration prior's 1-person, FAR 0.01 value is 0.748).
FUSED_THRESHOLD = 0.75


class FusedEmbedder:
    """Photo + keypoints -> ``(N, 320)`` float32 fused vectors (see the module docstring).

    Args:
        dlib: the dlib embedder (default: :func:`workbench.embed.default_embedder`).
        mobilefacenet: the MobileFaceNet runner (default: one with ``flip=True``, which is
            free for one face: its graph runs two chips a call).
        weight: dlib's share ``w`` of the squared distance.

    Both models load lazily on first use; calls are serialised by a lock.
    """

    dim = FUSED_DIM
    threshold = FUSED_THRESHOLD

    def __init__(self, dlib=None, mobilefacenet=None, *, weight: float = FUSION_WEIGHT) -> None:
        if not 0.0 < weight < 1.0:
            raise InvalidArgumentError(f"weight must be in (0, 1), got {weight!r}")
        if dlib is None:
            from workbench.embed.embedder import default_embedder

            dlib = default_embedder()
        if mobilefacenet is None:
            from workbench.embed.mobilefacenet import MobileFaceNet

            mobilefacenet = MobileFaceNet(flip=True)
        self.dlib = dlib
        self.mobilefacenet = mobilefacenet
        self.weight = float(weight)
        self._scale = np.array(
            [np.sqrt(weight), np.sqrt(1.0 - weight) * DLIB_SPREAD / MFN_SPREAD], np.float32
        )
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """``fused-<dlib's id>+<MobileFaceNet's id>-w<weight>``; galleries store it."""
        return f"fused-{self.dlib.model_id}+{self.mobilefacenet.model_id}-w{self.weight:.3f}"

    def load(self) -> FusedEmbedder:
        self.dlib.load()
        self.mobilefacenet.load()
        return self

    def close(self) -> None:
        """Close MobileFaceNet; dlib's embedder is shared (the process default) and stays."""
        self.mobilefacenet.close()

    def __enter__(self) -> FusedEmbedder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fuse(self, dlib_vectors: np.ndarray, mfn_vectors: np.ndarray) -> np.ndarray:
        """``(N, 128)`` dlib + ``(N, 192)`` unit MobileFaceNet -> ``(N, 320)`` fused (the
        dlib vectors as given: :meth:`complete_dlib` passes the mean with the mirror)."""
        a = np.asarray(dlib_vectors, np.float32) * self._scale[0]
        b = np.asarray(mfn_vectors, np.float32) * self._scale[1]
        return np.concatenate([a, b], axis=1)

    def embed_faces(
        self, image: np.ndarray, keypoints: np.ndarray, *, template, batch_size: int = 32
    ) -> np.ndarray:
        """Fused vectors of the faces at ``keypoints`` in ``image``.

        Args:
            image: ``(H, W, 3)`` uint8 RGB.
            keypoints: ``(N, 5, 2)`` pixels of the faces.
            template: the detector's alignment template for dlib's chip
                (:func:`workbench.align.template_for`).

        Returns:
            ``(N, 320)`` float32.
        """
        from workbench.align import align_face

        kps = np.asarray(keypoints, np.float64).reshape(-1, 5, 2)
        if not len(kps):
            return np.zeros((0, FUSED_DIM), np.float32)
        chips = np.stack([align_face(image, kp, template=template) for kp in kps])
        d = self.embed_dlib(chips, batch_size=batch_size)
        return self.complete_dlib(image, kps, chips, d, batch_size=batch_size)

    def embed_dlib(self, chips: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        """``(N, 128)`` dlib vectors (raw, as fused) of 150x150 chips, not mirrored: the
        cascade's first stage (:mod:`workbench.cascade`)."""
        with self._lock:
            return np.asarray(self.dlib.embed(chips, batch_size=batch_size), np.float32)

    def complete_dlib(
        self,
        image: np.ndarray,
        keypoints: np.ndarray,
        chips: np.ndarray,
        dlib_vectors: np.ndarray,
        *,
        batch_size: int = 32,
    ) -> np.ndarray:
        """``(N, 320)`` full fused vectors of faces whose plain dlib vectors
        (:meth:`embed_dlib` of ``chips``) are known: adds dlib's embedding of each chip's
        mirror and MobileFaceNet (its ArcFace chip cut from ``image`` at ``keypoints``).
        :meth:`embed_faces`, the cascade's second stage and the unknowns keeper all end in
        :meth:`complete_chips`, so their vectors of one face agree."""
        arc = self.arcface_chips(image, keypoints)
        return self.complete_chips(chips, arc, dlib_vectors, batch_size=batch_size)

    @staticmethod
    def arcface_chips(image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """``(N, 112, 112, 3)`` uint8: MobileFaceNet's chips of the faces at ``keypoints``
        (cut from the photo; what :meth:`complete_chips` needs besides dlib's chips)."""
        from workbench.embed.mobilefacenet import arcface_chips

        kps = np.asarray(keypoints, np.float64).reshape(-1, 5, 2)
        if not len(kps):
            return np.zeros((0, 112, 112, 3), np.uint8)
        return arcface_chips(image, kps)

    def complete_chips(
        self,
        chips: np.ndarray,
        arc_chips: np.ndarray,
        dlib_vectors: np.ndarray,
        *,
        batch_size: int = 32,
    ) -> np.ndarray:
        """``(N, 320)`` full fused vectors from each face's dlib chip, its ArcFace chip
        (:meth:`arcface_chips`) and its plain dlib vector: dlib's part the mean of that
        vector and the mirrored chip's, MobileFaceNet's of the ArcFace chip."""
        d = np.asarray(dlib_vectors, np.float32).reshape(-1, 128)
        chips, arc_chips = np.asarray(chips), np.asarray(arc_chips)
        if not (len(d) == len(chips) == len(arc_chips)):
            raise InvalidArgumentError(
                f"{len(d)} dlib vectors, {len(chips)} dlib chips and {len(arc_chips)} "
                "MobileFaceNet chips: one of each per face"
            )
        if not len(d):
            return np.zeros((0, FUSED_DIM), np.float32)
        mirrored = np.ascontiguousarray(chips[:, :, ::-1])
        with self._lock:
            dm = np.asarray(self.dlib.embed(mirrored, batch_size=batch_size), np.float32)
            m = self.mobilefacenet.embed(arc_chips)
        return self.fuse((d + dm) / 2, m)

    def complete(self, vectors: np.ndarray, chips: np.ndarray, arc_chips: np.ndarray) -> np.ndarray:
        """The full fused vectors of faces whose fused ``vectors`` carry dlib's plain
        vector and zeros in MobileFaceNet's part (the cascade's stage 1:
        :attr:`workbench.cascade.CascadeResult.embeddings`), from their dlib ``chips``
        and ``arc_chips`` (:meth:`arcface_chips`); rows already complete are returned as
        they are."""
        v = np.array(vectors, np.float32).reshape(-1, FUSED_DIM)
        todo = np.flatnonzero(~self.is_complete(v))
        if todo.size:
            d = v[todo, :128] / self._scale[0]
            v[todo] = self.complete_chips(np.asarray(chips)[todo], np.asarray(arc_chips)[todo], d)
        return v

    @staticmethod
    def is_complete(vectors: np.ndarray) -> np.ndarray:
        """``(N,)`` bool: the fused vectors whose MobileFaceNet part is there (not all
        zeros, as the cascade leaves it for faces dlib decided alone)."""
        v = np.asarray(vectors).reshape(-1, FUSED_DIM)
        return np.any(v[:, 128:] != 0, axis=1)

    def embed_mobilefacenet(self, image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """``(N, 192)`` unit MobileFaceNet vectors of the faces at ``keypoints`` in
        ``image`` (its ArcFace chips are cut from the photo); :meth:`fuse` joins them."""
        from workbench.embed.mobilefacenet import arcface_chips

        kps = np.asarray(keypoints, np.float64).reshape(-1, 5, 2)
        if not len(kps):
            return np.zeros((0, 192), np.float32)
        with self._lock:
            return np.asarray(self.mobilefacenet.embed(arcface_chips(image, kps)), np.float32)

    def embed(self, chips: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
        """Refuses: MobileFaceNet's chip must be cut from the photo, not from these.

        Raises:
            InvalidArgumentError: always, saying what to call instead.
        """
        raise InvalidArgumentError(
            "the fused embedder needs the photo, not 150x150 chips (MobileFaceNet's chip "
            "is cut from the photo): use Recognizer.embed(image, faces) or "
            "workbench.pipeline.embed_faces"
        )

    def __repr__(self) -> str:
        return f"FusedEmbedder(weight={self.weight}, {self.dlib!r}, {self.mobilefacenet!r})"
