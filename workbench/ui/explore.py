"""``EmbeddingExplorer``: how the embedding separates people, made visible.

The plots are drawn with matplotlib on the Agg canvas into ``ipywidgets.Image`` widgets,
so they update in place when the threshold slider moves, and a test can read them
without a browser.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import InvalidArgumentError, WorkbenchError
from workbench.faces import UNKNOWN
from workbench.ui.common import ErrorLog, encode_image, figure_png, new_figure, set_image
from workbench.ui.face_images import FaceImages
from workbench.ui.matrix import MAX_FACES as MATRIX_MAX_FACES
from workbench.ui.matrix import DistanceMatrix

if TYPE_CHECKING:
    from workbench.detect.base import Detector
    from workbench.embed.embedder import FaceEmbedder

#: Most pairs listed as flipping when the slider moves; the count is always shown.
MAX_FLIPS_SHOWN = 20
#: Bins of the genuine/impostor histograms: fixed by the data, never by the threshold, so
#: the bars keep their shape while the slider moves.
HISTOGRAM_BINS = 40


def threshold_label(source: str) -> str:
    """What to call a gallery's threshold on the plots, from ``Gallery.threshold_source``:
    ``"default"`` (nobody chose it), ``"set by you"`` (typed in; ``"set"`` in older
    galleries), ``"prior"`` (``"prior for N people"``: a gallery too small to calibrate),
    anything else a calibration (``"calibrated on N people / M faces"``)."""
    if source in ("default", "set by you"):
        return source
    if source == "set":
        return "set by you"
    if source.startswith("prior"):
        return "prior"
    return "calibrated"


def _source_html(threshold: float, source: str) -> str:
    return f"gallery threshold <b>{threshold:.3f}</b> &middot; {html.escape(source)}"


@dataclass(frozen=True)
class PairTable:
    """Every unordered pair of faces and its distance.

    Attributes:
        i, j: ``(P,)`` int indices into the faces, ``i < j``.
        distances: ``(P,)`` float64 Euclidean distances.
        genuine: ``(P,)`` bool, both faces belong to one person.
    """

    i: np.ndarray
    j: np.ndarray
    distances: np.ndarray
    genuine: np.ndarray
    #: True when the impostor pairs are a random sample (large sets), not all of them.
    sampled: bool = False


def distance_matrix(embeddings: np.ndarray) -> np.ndarray:
    """``(N, N)`` float64 Euclidean distances between ``(N, D)`` embeddings."""
    e = np.asarray(embeddings, np.float64)
    sq = (e * e).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * e @ e.T
    d = np.sqrt(np.maximum(d2, 0.0))
    np.fill_diagonal(d, 0.0)
    return d


#: Past this many faces the pair table no longer holds every pair (N*(N-1)/2 of them: 50
#: million at 10,000 faces, over a gigabyte): every genuine pair and a random sample of
#: impostor pairs, :data:`MAX_IMPOSTOR_PAIRS` of them.
ALL_PAIRS_UP_TO = 2000
MAX_IMPOSTOR_PAIRS = 200_000


def pair_table(embeddings: np.ndarray, names: Sequence[str], *, seed: int = 0) -> PairTable:
    """Pairs ``i < j`` with their distances and whether they are genuine: all of them up
    to :data:`ALL_PAIRS_UP_TO` faces; beyond, every genuine pair and a random sample of
    impostor pairs (see :attr:`PairTable.sampled`)."""
    e = np.asarray(embeddings, np.float64)
    labels = np.asarray(names, dtype=object)
    n = len(labels)
    if n <= ALL_PAIRS_UP_TO:
        d = distance_matrix(e)
        i, j = np.triu_indices(n, k=1)
        return PairTable(i, j, d[i, j], labels[i] == labels[j])
    # Genuine: within each person's rows. Impostor: random (i, j) of different people.
    _, person = np.unique(labels, return_inverse=True)
    gi, gj = [], []
    for p in np.unique(person):
        rows = np.flatnonzero(person == p)
        a, b = np.triu_indices(len(rows), k=1)
        gi.append(rows[a])
        gj.append(rows[b])
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, n, size=(2, 2 * MAX_IMPOSTOR_PAIRS))
    lo, hi = draw.min(0), draw.max(0)
    keep = person[lo] != person[hi]
    pairs = np.unique(np.stack([lo[keep], hi[keep]], 1), axis=0)[:MAX_IMPOSTOR_PAIRS]
    i = np.concatenate([*gi, pairs[:, 0]])
    j = np.concatenate([*gj, pairs[:, 1]])
    distances = np.linalg.norm(e[i] - e[j], axis=1)
    return PairTable(i, j, distances, person[i] == person[j], sampled=True)


def flipped_pairs(pairs: PairTable, old: float, new: float) -> np.ndarray:
    """Indices of pairs whose decision (``distance <= threshold`` means same) differs
    between the two thresholds, nearest the new threshold first."""
    lo, hi = min(old, new), max(old, new)
    idx = np.flatnonzero((pairs.distances > lo) & (pairs.distances <= hi))
    return idx[np.argsort(np.abs(pairs.distances[idx] - new))]


def project(embeddings: np.ndarray, method: str = "pca", *, seed: int = 0) -> np.ndarray:
    """``(N, 2)`` projection of ``(N, D)`` embeddings by ``"pca"`` or ``"tsne"``.

    Raises:
        InvalidArgumentError: an unknown method, or fewer than 3 embeddings.
    """
    methods = ("pca", "tsne")
    if method not in methods:
        raise InvalidArgumentError(f"method must be one of {methods}, but got {method!r}")
    e = np.asarray(embeddings, np.float64)
    if len(e) < 3:
        raise InvalidArgumentError(f"a projection needs at least 3 embeddings, got {len(e)}")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(e)
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (len(e) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        e
    )


class EmbeddingExplorer:
    """Heatmap, genuine/impostor histograms, 2-D projection, ROC and a threshold slider
    over a set of labelled embeddings; plus "compare two photos".

    Args:
        embeddings: ``(N, D)`` float32, at least two people and one genuine pair.
        names: ``N`` person names.
        threshold: the gallery's threshold (marked on the plots; the slider starts
            there); ``None``: the default of ``embedder``'s model
            (:func:`workbench.gallery.default_threshold`: 0.6 for dlib, 0.75 for the
            fused embedder, whose distances are larger), dlib's without an embedder.
        threshold_source: where it came from, ``Gallery.threshold_source``: the plots
            call it "default", "set" or "calibrated" accordingly.
        sources: ``N`` labels of the faces' photos (file names), shown in the tables so
            two pairs of the same two people can be told apart; numbered when absent.
        images: the faces' pictures (hover thumbnails, chips of two clicked faces);
            made from ``sources`` when absent.
        face_ids, gallery: the gallery the faces are from and their ids in it; with
            them, a group boxed in the projection can be removed from the gallery.
        detector, embedder: used by "compare two photos" (and to align faces cut from
            their photos); without them that part says so when used.

    The projection is a :class:`~workbench.ui.scatter.FaceScatter`: hover a point for
    the face, its name and photo; click two points for their chips, distance and verdict
    at the slider's threshold; drag a box over a group to act on it.

    Raises:
        InvalidArgumentError: mismatched lengths, fewer than two people or no genuine pair.

    Example:
        >>> explorer = EmbeddingExplorer(vectors, names, threshold=0.6)  # doctest: +SKIP
        >>> explorer  # shown as the panel  # doctest: +SKIP
    """

    def __init__(
        self,
        embeddings: np.ndarray,
        names: Sequence[str],
        *,
        threshold: float | None = None,
        threshold_source: str = "default",
        sources: Sequence[str] | None = None,
        images: FaceImages | None = None,
        face_ids: Sequence[int] | None = None,
        gallery: Any = None,
        unknowns: tuple[Sequence[Any], np.ndarray] | None = None,
        detector: Detector | None = None,
        embedder: FaceEmbedder | None = None,
    ) -> None:
        import ipywidgets as w

        from workbench.ui.scatter import FaceScatter

        self.detector = detector
        self.embedder = embedder
        self.gallery = gallery
        self._set_unknowns(unknowns)
        self._set_faces(embeddings, names, sources, images, face_ids)
        if threshold is None:
            from workbench.gallery import default_threshold

            threshold = default_threshold(getattr(embedder, "model_id", None))
        self.calibrated = float(threshold)
        self.threshold_kind = threshold_label(threshold_source)

        self.output = w.Output()
        self.errors = ErrorLog(self.output)
        d_max = float(self.pairs.distances.max())
        self.threshold = w.FloatSlider(
            value=self.calibrated,
            min=0.0,
            max=round(max(d_max, self.calibrated) * 1.05, 2),
            step=0.01,
            description="threshold",
            continuous_update=False,
            readout=False,
            style={"description_width": "initial"},
        )
        # The number field is the precise control (0.01 steps, typed or arrowed); the
        # slider is the quick one. Linked kernel-side, so code setting either moves both.
        self.threshold_field = w.BoundedFloatText(
            value=self.calibrated,
            min=self.threshold.min,
            max=self.threshold.max,
            step=0.01,
            layout=w.Layout(width="90px"),
        )
        w.link((self.threshold, "value"), (self.threshold_field, "value"))
        self.method = w.ToggleButtons(options=[("PCA", "pca"), ("t-SNE", "tsne")], value="pca")
        self.summary = w.HTML()
        # The full source ("calibrated on 30 people / 60 faces", ...) beside the value.
        self.source_label = w.HTML(_source_html(self.calibrated, threshold_source))
        self.flips = w.HTML()
        # Hover a cell for the two faces and their distance (drawn in the browser).
        self.heatmap = DistanceMatrix(np.zeros((0, 0)), [], size=380)
        self.histogram = w.Image(format="png")
        self.projection = FaceScatter(np.zeros((0, 2)), [], thumbnail=self._thumbnail)
        self.roc = w.Image(format="png")
        self.histogram.add_class("wb-histogram")
        self.roc.add_class("wb-roc")
        # Two clicked faces, and a boxed group.
        self.pick_a = w.Image(format="jpeg", width=110, height=110)
        self.pick_b = w.Image(format="jpeg", width=110, height=110)
        self.pick_verdict = w.HTML("<i>click two faces in the projection to compare them</i>")
        set_image(self.pick_a, b"")
        set_image(self.pick_b, b"")
        self.group_label = w.HTML("<i>drag a box over faces to select a group</i>")
        self.remove_group_button = w.Button(
            description="Remove from gallery",
            icon="trash",
            button_style="danger",
            disabled=True,
            layout=w.Layout(width="auto"),
        )
        self.group_message = w.HTML()
        # Boxed unknown faces (grey points) are enrolled under a typed name.
        self.group_name = w.Text(placeholder="name for the boxed unknowns")
        self.name_group_button = w.Button(
            description="Enroll unknowns", icon="user-plus", disabled=True
        )
        self.group_name.layout.display = self.name_group_button.layout.display = "none"

        self.upload_a = w.FileUpload(accept="image/*", multiple=False, description="photo A")
        self.upload_b = w.FileUpload(accept="image/*", multiple=False, description="photo B")
        self.compare_button = w.Button(description="Compare", icon="balance-scale")
        self.chip_a = w.Image(format="jpeg", width=150, height=150)
        self.chip_b = w.Image(format="jpeg", width=150, height=150)
        self.verdict = w.HTML()
        set_image(self.chip_a, b"")
        set_image(self.chip_b, b"")

        self.threshold.observe(self.errors.guard(self._on_threshold), names="value")
        self.method.observe(self.errors.guard(lambda _: self._draw_projection()), names="value")
        self.compare_button.on_click(self.errors.guard(self._on_compare, near=self.verdict))
        self.projection.observe(
            self.errors.guard(lambda _: self._show_picked(), near=self.pick_verdict),
            names="selected",
        )
        self.projection.observe(
            self.errors.guard(lambda _: self._show_group(), near=self.group_message),
            names="group",
        )
        self.remove_group_button.on_click(
            self.errors.guard(lambda _b: self.remove_group(), near=self.group_message)
        )
        self.name_group_button.on_click(
            self.errors.guard(
                lambda _b: self.enroll_group(self.group_name.value), near=self.group_message
            )
        )

        self._draw_all()

        compare = w.VBox(
            [
                w.HTML("<b>Compare two photos</b>"),
                w.HBox([self.upload_a, self.upload_b, self.compare_button]),
                w.HBox([self.chip_a, self.chip_b, self.verdict]),
            ]
        )
        self.widget = w.VBox(
            [
                self.summary,
                self.source_label,
                w.HBox([self.threshold, self.threshold_field]),
                w.HBox([self.heatmap, self.histogram]),
                w.HBox(
                    [
                        w.VBox([self.method, self.projection]),
                        w.VBox(
                            [
                                w.HBox([self.pick_a, self.pick_b]),
                                self.pick_verdict,
                                self.group_label,
                                self.remove_group_button,
                                w.HBox([self.group_name, self.name_group_button]),
                                self.group_message,
                            ],
                            layout=w.Layout(width="300px", padding="30px 0 0 8px"),
                        ),
                    ]
                ),
                w.HBox([self.roc]),
                w.HTML(
                    f"<b>Pairs whose verdict changes from the {self.threshold_kind} threshold</b>"
                ),
                self.flips,
                compare,
                self.output,
            ]
        )

    # Building ---------------------------------------------------------------------------

    @classmethod
    def from_images(
        cls,
        images: Mapping[str, Sequence[str | Path]],
        *,
        detector: Detector,
        embedder: FaceEmbedder,
        threshold: float | None = None,
        threshold_source: str = "default",
    ) -> EmbeddingExplorer:
        """Embed the central face of each photo, ``{person: [paths]}`` (photos without a
        face are left out); the aligned chips are kept for the hover thumbnails.
        ``threshold=None``: the embedder's model's default."""
        from workbench.evaluate import align_images, embed_photos
        from workbench.pipeline import embed_chips, needs_photo

        names = [name for name, paths in images.items() for _ in paths]
        paths = [p for paths in images.values() for p in paths]
        aligned = align_images(paths, detector=detector, progress=False)
        keep = np.flatnonzero(~aligned.no_face)
        chips = aligned.chips[keep]
        sources = [str(paths[k]) for k in keep]
        if needs_photo(embedder):  # it cuts its own chips from the photos
            vectors = embed_photos([paths[k] for k in keep], detector=detector, embedder=embedder)[
                0
            ]
        else:
            vectors = embed_chips(chips, embedder=embedder)
        return cls(
            vectors,
            [names[k] for k in keep],
            threshold=threshold,
            threshold_source=threshold_source,
            sources=sources,
            images=FaceImages(sources, chips=chips),
            detector=detector,
            embedder=embedder,
        )

    @classmethod
    def from_gallery(cls, gallery: Any, *, detector: Any = None, embedder: Any = None):
        """Every face of a :class:`workbench.gallery.Gallery`, with its threshold and the
        threshold's source, each face's photo as its label and picture; a group boxed in
        the projection can be removed from the gallery."""
        vectors, names, records = gallery_faces(gallery)
        if not records:  # embeddings without their records: no labels, no removal
            return cls(
                vectors,
                names,
                threshold=gallery.threshold,
                detector=detector,
                embedder=embedder,
                threshold_source=gallery.threshold_source,
            )
        return cls(
            vectors,
            names,
            threshold=gallery.threshold,
            threshold_source=gallery.threshold_source,
            sources=[r.source or f"face {r.id}" for r in records],
            images=FaceImages(
                [r.source for r in records],
                boxes=[r.box for r in records],
                detector=detector,
            ),
            face_ids=[r.id for r in records],
            gallery=gallery,
            unknowns=_gallery_unknowns(gallery),
            detector=detector,
            embedder=embedder,
        )

    def _set_unknowns(self, unknowns: tuple[Sequence[Any], np.ndarray] | None) -> None:
        faces, vectors = unknowns if unknowns is not None else ([], None)
        self.unknown_faces = list(faces)
        self.unknown_vectors = (
            np.asarray(vectors, np.float32) if len(self.unknown_faces) else np.zeros((0, 0))
        )
        self._projections = {}

    def _point(self, k: int) -> tuple[str, str, np.ndarray]:
        """Projection point ``k``: (name, photo label, embedding); the gallery's faces
        first, then the unknowns."""
        n = len(self.names)
        if k < n:
            return self.names[k], self.sources[k], self.embeddings[k]
        face = self.unknown_faces[k - n]
        photo = Path(face.source).name if face.source else f"unknown {face.id}"
        return UNKNOWN, photo, self.unknown_vectors[k - n]

    def _unknown_chip(self, k: int) -> np.ndarray | None:
        from workbench.live.webcam import decode_jpeg

        data = self.unknown_faces[k].thumbnail
        try:
            return decode_jpeg(data) if data else None
        except WorkbenchError:
            return None

    def _chip(self, k: int) -> np.ndarray | None:
        n = len(self.names)
        return self.images.chip(k) if k < n else self._unknown_chip(k - n)

    def _thumbnail(self, k: int) -> np.ndarray | None:
        from workbench.ui.common import thumbnail

        chip = self._chip(k)
        return None if chip is None else thumbnail(chip, 64)

    def _set_faces(
        self,
        embeddings: np.ndarray,
        names: Sequence[str],
        sources: Sequence[str] | None,
        images: FaceImages | None,
        face_ids: Sequence[int] | None,
    ) -> None:
        """Check and keep the faces, sorted by person (the heatmap's blocks)."""
        embeddings = np.asarray(embeddings, np.float32)
        names = [str(n) for n in names]
        if embeddings.ndim != 2 or len(embeddings) != len(names):
            raise InvalidArgumentError(
                f"expected (N, D) embeddings and N names, but got {embeddings.shape} "
                f"and {len(names)} names"
            )
        if sources is None:
            sources = [f"face {k + 1}" for k in range(len(names))]
        paths = [str(x) for x in sources]
        if images is None:
            images = FaceImages(paths, detector=self.detector)
        for what, n in (("source", len(paths)), ("picture", len(images))) + (
            (("face id", len(face_ids)),) if face_ids is not None else ()
        ):
            if n != len(names):
                raise InvalidArgumentError(
                    f"expected one {what} per face ({len(names)}), but got {n}"
                )
        order = np.argsort(np.asarray(names, dtype=object), kind="stable")
        pairs = pair_table(embeddings[order], [names[k] for k in order])
        if len(set(names)) < 2 or not pairs.genuine.any():
            raise InvalidArgumentError(
                "the explorer needs at least two people and one person with two faces, "
                f"but got {len(set(names))} people and {len(names)} faces"
            )
        self.embeddings = embeddings[order]
        self.names = [names[k] for k in order]
        self.sources = [Path(paths[k]).name for k in order]
        self.images = images.subset(order)
        self.face_ids = None if face_ids is None else [int(face_ids[k]) for k in order]
        self.pairs = pairs
        self._projections: dict[str, np.ndarray] = {}

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # Plots ------------------------------------------------------------------------------

    def _draw_all(self) -> None:
        self._draw_heatmap()
        self._draw_projection()
        self._on_threshold({"old": self.calibrated, "new": float(self.threshold.value)})
        self._show_group()

    def _draw_heatmap(self) -> None:
        people, starts = np.unique(self.names, return_index=True)
        if len(self.names) > MATRIX_MAX_FACES:
            self.heatmap.layout.display = "none"  # N*N cells: past this, not worth sending
            return
        self.heatmap.layout.display = ""
        self.heatmap.set_matrix(
            distance_matrix(self.embeddings), self.labels(), starts=starts, people=people
        )

    def labels(self) -> list[str]:
        """Each face as the plots name it: ``person · photo``."""
        return [f"{n} · {s}" for n, s in zip(self.names, self.sources, strict=True)]

    def _draw_histogram(self, t: float) -> None:
        p = self.pairs
        fig = new_figure(5.2, 3.6)
        ax = fig.add_subplot()
        bins = self.histogram_bins()
        ax.hist(p.distances[p.genuine], bins=bins, alpha=0.6, density=True, label="genuine")
        ax.hist(p.distances[~p.genuine], bins=bins, alpha=0.6, density=True, label="impostor")
        kind = self.threshold_kind
        ax.axvline(self.calibrated, color="k", ls=":", label=f"{kind} {self.calibrated:.2f}")
        ax.axvline(t, color="red", label=f"threshold {t:.2f}")
        ax.set_xlim(0.0, float(self.threshold.max))
        ax.set_xlabel("distance")
        ax.legend(fontsize=7)
        ax.set_title("pair distances")
        self.histogram.value = figure_png(fig)

    def histogram_bins(self) -> np.ndarray:
        """The histograms' bin edges: from 0 to the slider's end, the same at every
        threshold."""
        return np.linspace(0.0, float(self.threshold.max), HISTOGRAM_BINS + 1)

    def _draw_projection(self) -> None:
        method = self.method.value
        vectors = self.embeddings
        if len(self.unknown_faces):
            vectors = np.vstack([self.embeddings, self.unknown_vectors])
        if method not in self._projections:
            self._projections[method] = project(vectors, method)
        n, points = len(self.names), range(len(self.names), len(vectors))
        names = self.names + [UNKNOWN] * (len(vectors) - n)
        labels = self.labels() + [f"{UNKNOWN} · {self._point(k)[1]}" for k in points]
        self.projection.set_points(self._projections[method], names, labels=labels)

    # Clicked faces and boxed groups -----------------------------------------------------

    def picked(self) -> dict[str, Any] | None:
        """The two faces clicked in the projection, their distance and the verdict at the
        slider's threshold (``None`` until two are clicked)."""
        sel = list(self.projection.selected)
        if len(sel) != 2:
            return None
        (a, photo_a, va), (b, photo_b, vb) = (self._point(k) for k in sel)
        distance = float(np.linalg.norm(va - vb))
        t = float(self.threshold.value)
        return {
            "a": a,
            "photo_a": photo_a,
            "b": b,
            "photo_b": photo_b,
            "distance": distance,
            "threshold": t,
            "same": distance <= t,
        }

    def _show_picked(self) -> None:
        sel = list(self.projection.selected)
        for k, image in enumerate((self.pick_a, self.pick_b)):
            chip = self._chip(sel[k]) if k < len(sel) else None
            set_image(image, encode_image(chip) if chip is not None else b"")
        pick = self.picked()
        if pick is None:
            self.pick_verdict.value = (
                "<i>click a second face to compare</i>"
                if sel
                else "<i>click two faces in the projection to compare them</i>"
            )
            return
        known = UNKNOWN not in (pick["a"], pick["b"])
        right = (pick["a"] == pick["b"]) == pick["same"]
        self.pick_verdict.value = (
            f"<p>{html.escape(pick['a'])} <small>({html.escape(pick['photo_a'])})</small><br>"
            f"{html.escape(pick['b'])} <small>({html.escape(pick['photo_b'])})</small></p>"
            f"<p class='wb-pick-distance'>distance <b>{pick['distance']:.3f}</b> at threshold "
            f"{pick['threshold']:.2f}: <b>{'same person' if pick['same'] else 'different people'}"
            f"</b>{(' (right)' if right else ' (wrong)') if known else ''}</p>"
        )

    def _show_group(self) -> None:
        n = len(self.names)
        group = [k for k in self.projection.group if k < n]
        unknown = [k for k in self.projection.group if k >= n]
        self.remove_group_button.disabled = not group or self.face_ids is None
        can_name = bool(unknown) and hasattr(self.gallery, "name_faces")
        self.name_group_button.disabled = not can_name
        shown = "" if len(self.unknown_faces) and hasattr(self.gallery, "name_faces") else "none"
        self.group_name.layout.display = self.name_group_button.layout.display = shown
        if not group and not unknown:
            self.group_label.value = "<i>drag a box over faces to select a group</i>"
            return
        if not group:
            self.group_label.value = f"<b>{len(unknown)} unknown face(s)</b> in the box"
            return
        people = sorted({self.names[k] for k in group})
        shown = ", ".join(html.escape(p) for p in people[:6])
        more = f" and {len(people) - 6} more" if len(people) > 6 else ""
        note = "" if self.face_ids is not None else " (not from a gallery: nothing to remove)"
        self.group_label.value = (
            f"<b>{len(group)} face(s)</b> of {len(people)} people in the box: {shown}{more}"
            f"{html.escape(note)}" + (f", and {len(unknown)} unknown face(s)" if unknown else "")
        )

    def remove_group(self) -> int:
        """Remove the faces boxed in the projection from the gallery, then redraw;
        returns how many were removed.

        Raises:
            InvalidArgumentError: no group, faces not from a gallery, or removing them
                would leave fewer than two people or no person with two faces.
        """
        group = sorted({k for k in self.projection.group if k < len(self.names)})
        if not group:
            raise InvalidArgumentError("drag a box over the (named) faces to remove first")
        if self.face_ids is None or self.gallery is None:
            raise InvalidArgumentError(
                "these faces are not from a gallery: build the explorer with "
                "EmbeddingExplorer.from_gallery to remove faces"
            )
        boxed = set(group)
        keep = [k for k in range(len(self.names)) if k not in boxed]
        left = [self.names[k] for k in keep]
        if len(set(left)) < 2 or len(set(left)) == len(left):
            raise InvalidArgumentError(
                f"removing these {len(group)} faces would leave {len(set(left))} people and "
                f"{len(left)} faces: the explorer needs two people and one with two faces"
            )
        from workbench.gallery.removal import remove_faces

        remove_faces(self.gallery, [self.face_ids[k] for k in group])
        self._set_faces(
            self.embeddings[keep],
            left,
            [self.images.sources[k] or self.sources[k] for k in keep],
            self.images.subset(keep),
            [self.face_ids[k] for k in keep],
        )
        self._after_gallery_change()
        self.group_message.value = f"removed {len(group)} face(s) from the gallery"
        return len(group)

    def enroll_group(self, name: str) -> int:
        """Enroll the unknown faces boxed in the projection as ``name`` (through the
        gallery's ``name_faces``), then redraw with them as that person; returns how many
        were enrolled.

        Raises:
            InvalidArgumentError: no unknown face in the box, or a gallery that cannot
                name unknown faces.
            InvalidNameError: a bad name.
        """
        n = len(self.names)
        ids = [self.unknown_faces[k - n].id for k in sorted(set(self.projection.group)) if k >= n]
        if not ids:
            raise InvalidArgumentError("drag a box over unknown (grey) faces to enroll first")
        if not hasattr(self.gallery, "name_faces"):
            raise InvalidArgumentError("this gallery cannot enroll unknown faces")
        self.gallery.name_faces(ids, name)
        vectors, names, records = gallery_faces(self.gallery)
        self._set_unknowns(_gallery_unknowns(self.gallery))
        self._set_faces(
            vectors,
            names,
            [r.source or f"face {r.id}" for r in records] if records else None,
            FaceImages(
                [r.source for r in records], boxes=[r.box for r in records], detector=self.detector
            )
            if records
            else None,
            [r.id for r in records] if records else None,
        )
        self._after_gallery_change()
        self.group_name.value = ""
        self.group_message.value = f"enrolled {len(ids)} face(s) as {html.escape(name.strip())}"
        return len(ids)

    def _after_gallery_change(self) -> None:
        # Removing or adding faces re-derived the gallery's threshold: mark the new one.
        info = self.gallery.threshold_info
        self.calibrated, self.threshold_kind = info.threshold, threshold_label(info.source)
        self.source_label.value = _source_html(info.threshold, info.source)
        self._draw_all()

    def _draw_roc(self, t: float) -> None:
        from workbench.evaluate import roc_curve

        p = self.pairs
        roc = roc_curve(p.distances, p.genuine)
        fig = new_figure(5.2, 4.2)
        ax = fig.add_subplot()
        # Log false-accept axis: the operating points live at FAR 1e-3..1e-1, which a
        # linear axis squeezes into its left edge. A FAR of 0 sits at the axis' floor,
        # half of one impostor pair.
        floor = 0.5 / max(int((~p.genuine).sum()), 1)
        ax.semilogx(np.maximum(roc.far, floor), roc.tar, lw=1.5, label=f"ROC (AUC {roc.auc:.3f})")
        marks = ((self.calibrated, "ko", self.threshold_kind), (t, "r^", "slider"))
        for value, style, label in marks:
            far, tar = self.rates(value)
            ax.plot(
                [max(far, floor)],
                [tar],
                style,
                label=f"{label} {value:.2f}: FAR {far:.3f}, TAR {tar:.3f}",
            )
        ax.set_xlabel(f"false accept rate (log; {floor:.0e} = none)")
        ax.set_ylabel("true accept rate")
        ax.set_xlim(floor * 0.8, 1.05)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title("ROC over all pairs")
        self.roc.value = figure_png(fig)

    def rates(self, threshold: float) -> tuple[float, float]:
        """``(false accept rate, true accept rate)`` of the pairs at ``threshold``."""
        p = self.pairs
        accept = p.distances <= threshold
        far = float(accept[~p.genuine].mean()) if (~p.genuine).any() else 0.0
        tar = float(accept[p.genuine].mean()) if p.genuine.any() else 0.0
        return far, tar

    def _on_threshold(self, change: dict) -> None:
        t = float(change["new"])
        self._draw_histogram(t)
        self._draw_roc(t)
        far, tar = self.rates(t)
        sample = " (a random sample)" if self.pairs.sampled else ""
        self.summary.value = (
            f"{len(self.names)} faces of {len(set(self.names))} people, "
            f"{int(self.pairs.genuine.sum())} genuine and {int((~self.pairs.genuine).sum())} "
            f"impostor pairs{sample}. At threshold <b>{t:.2f}</b>: false accepts {far:.1%}, "
            f"true accepts {tar:.1%}."
        )
        self.flips.value = self._flips_html(t)
        if len(self.projection.selected) == 2:
            self._show_picked()  # the verdict follows the slider

    def flipped(self, threshold: float | None = None) -> list[dict[str, Any]]:
        """The pairs whose verdict at ``threshold`` (the slider's by default) differs from
        the gallery's threshold, as dicts (a, photo_a, b, photo_b, distance, genuine,
        now)."""
        t = float(self.threshold.value if threshold is None else threshold)
        out = []
        for k in flipped_pairs(self.pairs, self.calibrated, t):
            d = float(self.pairs.distances[k])
            i, j = int(self.pairs.i[k]), int(self.pairs.j[k])
            out.append(
                {
                    "a": self.names[i],
                    "photo_a": self.sources[i],
                    "b": self.names[j],
                    "photo_b": self.sources[j],
                    "distance": d,
                    "genuine": bool(self.pairs.genuine[k]),
                    "now": "same" if d <= t else "different",
                }
            )
        return out

    def _flips_html(self, t: float) -> str:
        rows = self.flipped(t)
        if not rows:
            return f"<i>none: move the slider away from the {self.threshold_kind} threshold</i>"
        cells = "".join(
            "<tr><td>{}</td><td>{}</td><td>{:.3f}</td><td>{}</td><td>{}</td></tr>".format(
                f"{html.escape(r['a'])} <small>({html.escape(r['photo_a'])})</small>",
                f"{html.escape(r['b'])} <small>({html.escape(r['photo_b'])})</small>",
                r["distance"],
                "genuine" if r["genuine"] else "impostor",
                f"now {r['now']}"
                + (" (right)" if (r["now"] == "same") == r["genuine"] else " (wrong)"),
            )
            for r in rows[:MAX_FLIPS_SHOWN]
        )
        more = (
            f"<p>and {len(rows) - MAX_FLIPS_SHOWN} more</p>" if len(rows) > MAX_FLIPS_SHOWN else ""
        )
        return (
            f"<p>{len(rows)} pairs flip</p><table><tr><th>a</th><th>b</th><th>distance</th>"
            f"<th>pair</th><th>verdict</th></tr>{cells}</table>{more}"
        )

    # Compare two photos -----------------------------------------------------------------

    def compare(
        self,
        image_a: Any,
        image_b: Any,
        *,
        threshold: float | None = None,
        labels: tuple[str, str] = ("photo A", "photo B"),
    ) -> dict[str, Any]:
        """Align the most prominent face of each image, embed both, and judge.

        Args:
            image_a, image_b: anything :func:`workbench.images.load_image` reads.
            threshold: the distance to judge at; the gallery's threshold by default (not
                the slider's: a verdict from code must not depend on where the slider
                was last left). The panel's *Compare* button uses the slider's.
            labels: how to name the two images in errors (the uploaded file names).

        Returns:
            ``{"distance", "same", "threshold"}``; the chips and the verdict are shown.

        Raises:
            InvalidArgumentError: no detector/embedder was given, or an image has no face.
            InvalidImageError: an image cannot be read (named by its label).
        """
        from workbench.images import load_image
        from workbench.pipeline import align, embed_faces, pick_face

        if self.detector is None or self.embedder is None:
            raise InvalidArgumentError(
                "compare needs a detector and an embedder: EmbeddingExplorer(..., "
                "detector=..., embedder=...)"
            )
        # A failed comparison must not leave the previous verdict on screen.
        set_image(self.chip_a, b"")
        set_image(self.chip_b, b"")
        self.verdict.value = ""
        chips, vectors = [], []
        for label, source in zip(labels, (image_a, image_b), strict=True):
            # Bytes are named by their label (the upload's file name); a path by itself.
            named = isinstance(source, bytes | bytearray | memoryview)
            image = load_image(source, label=label if named else None)
            face = pick_face(self.detector.detect(image), "largest")
            if not len(face):
                raise InvalidArgumentError(f"{label}: expected a face, but none was found")
            chips.append(align(image, face, detector=self.detector)[0])
            vectors.append(
                embed_faces(image, face, detector=self.detector, embedder=self.embedder)[0]
            )
        distance = float(np.linalg.norm(vectors[0] - vectors[1]))
        t = self.calibrated if threshold is None else float(threshold)
        same = distance <= t
        set_image(self.chip_a, encode_image(chips[0]))
        set_image(self.chip_b, encode_image(chips[1]))
        self.verdict.value = (
            f"<p>distance <b>{distance:.3f}</b> (threshold {t:.2f})</p>"
            f"<p style='font-size:1.3em'>{'same person' if same else 'different people'}</p>"
        )
        return {"distance": distance, "same": same, "threshold": t}

    def _on_compare(self, _button: Any = None) -> None:
        a, b = self.upload_a.value, self.upload_b.value
        if not a or not b:
            raise InvalidArgumentError("upload one photo as A and one as B, then compare")
        self.compare(
            bytes(a[0]["content"]),
            bytes(b[0]["content"]),
            threshold=float(self.threshold.value),
            labels=(
                f"photo A ({a[0].get('name', 'upload')})",
                f"photo B ({b[0].get('name', 'upload')})",
            ),
        )


def _gallery_unknowns(gallery: Any) -> tuple[list[Any], np.ndarray] | None:
    """The gallery's stored unknown faces and their embeddings, or ``None``."""
    if not hasattr(gallery, "unknown_embeddings") or not gallery.count_unknowns():
        return None
    return gallery.unknown_embeddings()


def gallery_faces(gallery: Any) -> tuple[np.ndarray, list[str], list[Any]]:
    """``(embeddings, names, face records)`` of a gallery, row for row; the records are
    ``[]`` when they cannot be matched to the embeddings (both are in face-id order)."""
    vectors, names = gallery.embeddings()
    records = gallery.faces()
    if len(records) != len(names) or any(
        r.person != n for r, n in zip(records, names, strict=True)
    ):
        records = []
    return vectors, names, records
