"""Nearest-identity search: result types, exact search and the approximate index.

Exact search is one matrix product ``|q|² - 2 q·Vᵀ + |v|²`` over every enrolled vector.
Past :data:`ANN_THRESHOLD` vectors an inverted-file index (faiss, 8-bit scalar-quantised
codes by default) looks only at the vectors in the ``nprobe`` cells nearest the query and
proposes a few candidates, which are re-ranked by their exact float32 distances. Every
distance reported is therefore the true distance to a real enrolled vector, so an
approximate search can only ever report a *larger* best distance than exact search,
never a smaller one: a stranger that exact search rejects is rejected by the index too;
the index can only miss a match. Why IVF and not HNSW (usearch or faiss), and the
figures: ``docs/benchmarks/gallery.md``.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from workbench.faces import UNKNOWN, or_label
from workbench.gallery.annstore import IndexStatus
from workbench.gallery.snapshot import Snapshot
from workbench.gallery.types import Decision

#: Below this many vectors exact search is used. Measured on 2 cores (one query, p50):
#: exact 0.2 ms at 10k and 9-11 ms at 100k faces (it reads every vector: memory bound),
#: the index 0.1-0.3 ms at both; at 20k exact is still about 1-2 ms and never misses.
ANN_THRESHOLD = 20_000

#: A kept index read back is saved again once the faces added to it exceed this fraction
#: of those it was kept with (:mod:`.annstore`): below, adding them at each open is cheap.
RESAVE_FRACTION = 0.01


@dataclass(frozen=True)
class Match:
    """The best identity for one face.

    Attributes:
        name: the nearest enrolled person, or ``None`` when the gallery is empty.
        distance: Euclidean distance to that person (``inf`` when there is none).
        accepted: ``distance <= threshold``: the face is taken to be ``name``.
        too_small: the face was too small to name (:data:`workbench.recognize.MIN_FACE_PX`):
            not accepted whatever the distance.
        rival: the look-alike ``name`` could not be told from: ``name`` was within the
            threshold but ``rival`` (the second-nearest person, whose centroid lies
            within :attr:`Gallery.lookalike_distance <workbench.gallery.Gallery>`, 0.40
            for dlib, 0.56 fused, of ``name``'s) was not :attr:`Gallery.margin
            <workbench.gallery.Gallery>` (0.02) farther.
            Such a match is not accepted (it names nobody: no track, count or automatic
            enrollment takes it as ``name``); its :attr:`label` is ``"name or rival?"``.
            ``None`` otherwise.
    """

    name: str | None
    distance: float
    accepted: bool
    too_small: bool = False
    rival: str | None = None

    @property
    def ambiguous(self) -> bool:
        """``name`` or :attr:`rival`, the decision cannot say which (``"X or Y?"``)."""
        return self.rival is not None and self.name is not None and not self.accepted

    @property
    def candidates(self) -> tuple[str, str] | None:
        """``(name, rival)`` when :attr:`ambiguous`, else ``None``."""
        return (self.name, self.rival) if self.ambiguous else None

    @property
    def label(self) -> str:
        """``name`` when accepted, ``"name or rival?"`` when :attr:`ambiguous`, else
        ``"unknown"``."""
        if self.ambiguous:
            return or_label(self.name, self.rival)
        return self.name if self.accepted and self.name is not None else UNKNOWN


@dataclass(frozen=True, eq=False)
class SearchResult:
    """The ``k`` nearest people for each of ``N`` query embeddings, nearest first.

    Attributes:
        names: ``(N, k)`` object array of ``str``, ``None`` where fewer than ``k`` people
            are enrolled.
        distances: ``(N, k)`` float32 Euclidean distances, ``inf`` where ``names`` is
            ``None``.
        accepted: ``(N, k)`` bool, ``distances <= threshold`` and not turned away by the
            verdict (:mod:`workbench.gallery.verdict`).
        threshold: the distance threshold that was applied.
        rivals: ``(N,)`` object array: the look-alike the nearest person could not be
            told from (:attr:`Match.rival`), ``None`` where there is none; ``None`` for
            no such query at all.

    Example:
        >>> r = SearchResult.empty(2, 1, 0.6)
        >>> [m.label for m in r.best()]
        ['unknown', 'unknown']
    """

    names: np.ndarray
    distances: np.ndarray
    accepted: np.ndarray
    threshold: float
    rivals: np.ndarray | None = None

    def __post_init__(self) -> None:
        shape = self.names.shape
        if len(shape) != 2 or self.distances.shape != shape or self.accepted.shape != shape:
            raise ValueError(
                "names, distances and accepted must share one (N, k) shape, but got "
                f"{self.names.shape}, {self.distances.shape}, {self.accepted.shape}"
            )
        if self.rivals is not None and self.rivals.shape != shape[:1]:
            raise ValueError(f"rivals must have shape ({shape[0]},), but got {self.rivals.shape}")

    def __len__(self) -> int:
        return self.names.shape[0]

    @classmethod
    def empty(cls, n: int, k: int, threshold: float) -> SearchResult:
        """No candidates for any of ``n`` queries (an empty gallery)."""
        return cls(
            np.full((n, k), None, dtype=object),
            np.full((n, k), np.inf, dtype=np.float32),
            np.zeros((n, k), dtype=bool),
            float(threshold),
        )

    def best(self) -> list[Match]:
        """The nearest person of every query, as one :class:`Match` each."""
        if self.names.shape[1] == 0:
            return [Match(None, math.inf, False) for _ in range(len(self))]
        rivals = [None] * len(self) if self.rivals is None else self.rivals
        return [
            Match(n, float(d), bool(a), rival=None if a else r)
            for n, d, a, r in zip(
                self.names[:, 0], self.distances[:, 0], self.accepted[:, 0], rivals, strict=True
            )
        ]


def check_queries(embeddings: object, dim: int) -> np.ndarray:
    """Return ``embeddings`` as a C-contiguous float32 ``(N, dim)`` array.

    Raises:
        InvalidArgumentError: another shape, or values that are not finite.
    """
    from workbench.errors import InvalidArgumentError

    arr = np.asarray(embeddings)
    if arr.ndim == 1 and arr.shape[0] == dim:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise InvalidArgumentError(
            f"embeddings must be a 2D array with shape (_, {dim}), but got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.number):
        raise InvalidArgumentError(f"embeddings must be numeric, but got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise InvalidArgumentError("embeddings must be finite, but got NaN or inf values")
    return arr


#: Up to this many queries the product runs on one BLAS thread (see _one_blas_thread).
_FEW_QUERIES = 8

_blas_lock = threading.Lock()
_blas_controller: list = []  # the threadpoolctl controller, made once on first use


def _one_blas_thread():
    """A context that limits OpenBLAS to one thread, if threadpoolctl is installed.

    A matrix-vector product over 10k-100k rows is too small to gain from threads, and on
    a busy 2-core machine OpenBLAS's thread hand-off made one 10k-row query take 10-20 ms
    instead of 0.3 ms (measured; see docs/benchmarks/gallery.md).
    """
    with _blas_lock:
        if not _blas_controller:
            try:
                from threadpoolctl import ThreadpoolController

                _blas_controller.append(ThreadpoolController())
            except ImportError:  # optional: scikit-learn brings it along
                _blas_controller.append(None)
    controller = _blas_controller[0]
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


def exact_search(
    queries: np.ndarray,
    vectors: np.ndarray,
    sq_norms: np.ndarray,
    k: int,
    owners: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    *,
    chunk: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest vectors (or owners) of every query, by brute force.

    Candidates are ranked by ``|q|² - 2 q·v + |v|²`` (one matrix product), then the
    winners' distances are recomputed as ``Σ (q - v)²``: the expansion loses precision to
    cancellation when ``q`` is close to ``v`` (an identical vector of norm 11 came out at
    0.004 instead of 0), the direct sum does not.

    Args:
        queries: ``(Q, D)`` float32.
        vectors: ``(n, D)`` float32.
        sq_norms: ``(n,)`` float32 squared norms of ``vectors``.
        k: neighbours per query.
        owners: ``None`` to rank vectors, or ``(owner, perm, starts, group_owner)`` to rank
            owners by their nearest vector: ``owner (n,)`` of each row, ``vectors[perm]``
            lists each owner's rows together, ``starts`` are where owners begin in that
            order and ``group_owner`` the owner of each run.
        chunk: queries per matrix product, which bounds the ``(chunk, n)`` temporary.

    Returns:
        ``(indices (Q, k'), squared distances (Q, k'))`` with ``k' = min(k, candidates)``,
        nearest first; indices are rows of ``vectors`` or owners.
    """
    # Keep the (chunk, n) float32 temporary near 256 MB however large the gallery.
    chunk = max(1, min(chunk, 2**26 // max(1, vectors.shape[0])))
    n_cand = vectors.shape[0] if owners is None else owners[2].shape[0]
    kk = min(k, n_cand)
    n_q = queries.shape[0]
    out_i = np.empty((n_q, kk), np.int64)
    out_d = np.empty((n_q, kk), np.float32)
    for i in range(0, n_q, chunk):
        q = queries[i : i + chunk]
        if q.shape[0] <= _FEW_QUERIES:
            with _one_blas_thread():
                d2 = (vectors @ q.T).T.copy()
        else:
            d2 = q @ vectors.T
        d2 *= -2.0
        d2 += sq_norms[None, :]
        d2 += (q * q).sum(axis=1, keepdims=True)
        if owners is None:
            idx, _ = top_k(d2, kk)
            exact = ((q[:, None, :] - vectors[idx]) ** 2).sum(-1)
        elif kk == 1:
            rows = d2.argmin(axis=1)[:, None]
            idx = owners[0][rows]
            exact = ((q[:, None, :] - vectors[rows]) ** 2).sum(-1)
        else:
            owner, perm, starts, group_owner = owners
            cols, _ = top_k(np.minimum.reduceat(d2[:, perm], starts, axis=1), kk)
            idx = group_owner[cols]
            ends = np.r_[starts[1:], perm.shape[0]]
            exact = np.empty(cols.shape, np.float32)
            for r, c in np.ndindex(*cols.shape):
                rows = perm[starts[cols[r, c]] : ends[cols[r, c]]]
                exact[r, c] = ((q[r] - vectors[rows]) ** 2).sum(-1).min()
        order = np.argsort(exact, axis=1, kind="stable")
        out_i[i : i + chunk] = np.take_along_axis(idx, order, axis=1)
        out_d[i : i + chunk] = np.take_along_axis(exact, order, axis=1)
    return out_i, out_d


def top_k(d2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the ``k`` smallest values per row, sorted; ``(Q, min(k, G))`` each."""
    k = min(k, d2.shape[1])
    if k == 0:
        return np.zeros((d2.shape[0], 0), np.int64), np.zeros((d2.shape[0], 0), np.float32)
    if k < d2.shape[1]:
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(d2.shape[1]), d2.shape).copy()
    vals = np.take_along_axis(d2, part, axis=1)
    order = np.argsort(vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


@dataclass(frozen=True)
class IndexOptions:
    """Tuning of the approximate index.

    Attributes:
        threshold: use the index at and above this many vectors; exact search below.
        lists_per_sqrt: number of IVF cells is ``lists_per_sqrt * sqrt(n)`` at build.
        nprobe: cells visited per query; more is slower and misses less.
        rebuild_growth: retrain the cells once the index holds this many times the
            vectors it was trained on (cells trained on few vectors get crowded).
        train_per_list: training sample per cell (faiss wants at least 39).
        quantize: store 8-bit codes (``IndexIVFScalarQuantizer``, 128 bytes a vector)
            instead of float32 copies (512 bytes): the gallery already holds every
            vector in float32 and re-ranks the index's candidates exactly with them.
        rerank: candidates per query the index returns for that exact re-ranking.
    """

    threshold: int = ANN_THRESHOLD
    lists_per_sqrt: float = 4.0
    nprobe: int = 64
    rebuild_growth: float = 4.0
    train_per_list: int = 48
    quantize: bool = True
    rerank: int = 8


class AnnIndex:
    """An IVF index (8-bit codes or float32, see :class:`IndexOptions`) keyed by int64 ids.

    faiss indexes are safe for concurrent searches but not for a search during an add,
    so one lock guards both; a query holds it for well under a millisecond.
    """

    def __init__(self, vectors: np.ndarray, ids: np.ndarray, options: IndexOptions) -> None:
        import faiss  # imported here: only galleries past the threshold need it

        self._faiss = faiss
        self._lock = threading.Lock()
        self.options = options
        n, dim = vectors.shape
        nlist = max(1, int(options.lists_per_sqrt * math.sqrt(n)))
        nlist = min(nlist, max(1, n // options.train_per_list))
        self.trained_on = n
        self._quantizer = faiss.IndexFlatL2(dim)  # kept: the IVF index does not own it
        if options.quantize:
            index = faiss.IndexIVFScalarQuantizer(
                self._quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2
            )
        else:
            index = faiss.IndexIVFFlat(self._quantizer, dim, nlist, faiss.METRIC_L2)
        rng = np.random.default_rng(0)
        n_train = min(n, nlist * options.train_per_list)
        sample = vectors if n_train == n else vectors[np.sort(rng.choice(n, n_train, False))]
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        index.add_with_ids(np.ascontiguousarray(vectors, np.float32), ids.astype(np.int64))
        index.nprobe = min(options.nprobe, nlist)
        self._index = index

    @classmethod
    def restored(cls, index, options: IndexOptions, trained_on: int) -> AnnIndex:
        """An index read back by :mod:`.annstore` (a deserialised faiss IVF index, which
        owns its quantizer)."""
        import faiss

        self = cls.__new__(cls)
        self._faiss = faiss
        self._lock = threading.Lock()
        self.options = options
        self.trained_on = int(trained_on)
        self._quantizer = None
        index.nprobe = min(options.nprobe, index.nlist)
        self._index = index
        return self

    @property
    def faiss_index(self):
        """The faiss index itself (for :mod:`.annstore` to serialise; do not add to it)."""
        return self._index

    @property
    def nlist(self) -> int:
        """Number of IVF cells."""
        return self._index.nlist

    @property
    def nprobe(self) -> int:
        """Cells visited per query."""
        return self._index.nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        with self._lock:
            self._index.nprobe = max(1, min(int(value), self._index.nlist))

    def __len__(self) -> int:
        return self._index.ntotal

    def needs_rebuild(self, n: int) -> bool:
        """Whether ``n`` vectors have outgrown the cells trained at build."""
        return n > self.options.rebuild_growth * self.trained_on

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add vectors under ``ids`` (which must not be in the index yet)."""
        if len(ids):
            with self._lock:
                self._index.add_with_ids(
                    np.ascontiguousarray(vectors, np.float32), ids.astype(np.int64)
                )

    def remove(self, ids: np.ndarray) -> None:
        """Drop the vectors of ``ids``; unknown ids are ignored."""
        if len(ids):
            sel = self._faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
            with self._lock:
                self._index.remove_ids(sel)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, squared distances)``, each ``(Q, k)``; id ``-1`` where none was found.

        With 8-bit codes the distances are approximate: re-rank with the float vectors.
        """
        with self._lock:
            d2, ids = self._index.search(np.ascontiguousarray(queries, np.float32), k)
        return ids, d2


@dataclass
class AnnState:
    """The approximate index of one decision mode and what it reflects."""

    index: AnnIndex | None = None
    max_face_id: int = -1  # NEAREST_FACE: faces with larger ids are not in it yet
    removed: list[np.ndarray] = field(default_factory=list)  # face ids pending removal
    kept_faces: int = 0  # faces of the kept (persisted) index it was read from or saved as


class Searcher:
    """Search dispatch and the approximate indexes of one gallery.

    Exact search below ``options.threshold`` vectors (people for the centroid decision),
    a faiss IVF index above, kept in step with the writes it is told about
    (:meth:`people_changed`, :meth:`faces_removed`) rather than rebuilt for each. With
    :attr:`kept` set (:class:`.annstore.KeptIndex`) an index is first read back from
    where the gallery keeps it, and saved there after it was built.

    Args:
        options: the gallery's :class:`IndexOptions`.
    """

    def __init__(self, options: IndexOptions) -> None:
        self.options = options
        self.lock = threading.Lock()  # building and syncing the approximate indexes
        self.states = {d: AnnState() for d in Decision}
        self.centroid_dirty: set[int] = set()  # person ids whose centroid changed
        self.kept = None  # annstore.KeptIndex, set by the gallery once it knows its model

    def reset(self) -> None:
        """Forget every index (the rows were read afresh)."""
        with self.lock:
            self.states = {d: AnnState() for d in Decision}
            self.centroid_dirty = set()

    def people_changed(self, person_ids: Iterable[int]) -> None:
        """These people's centroids changed (faces were added)."""
        with self.lock:
            self.centroid_dirty.update(person_ids)

    def faces_removed(self, face_ids: np.ndarray, person_ids: Iterable[int]) -> None:
        """These faces went, changing these people's centroids."""
        with self.lock:
            self.states[Decision.NEAREST_FACE].removed.append(np.array(face_ids, copy=True))
            self.centroid_dirty.update(person_ids)

    def search(
        self,
        s: Snapshot,
        queries: np.ndarray,
        k: int,
        decision: Decision,
        threshold: float,
        latest: Callable[[], Snapshot],
    ) -> SearchResult:
        """The ``k`` nearest people of each query in snapshot ``s``; ``latest`` gives the
        newest snapshot, which the index upkeep syncs from."""
        if not s.searchable or not queries.shape[0]:
            return SearchResult.empty(queries.shape[0], k, threshold)
        rows, d2 = self.nearest(s, queries, k, decision, latest)
        return to_result(s, rows, d2, k, threshold)

    def nearest(
        self,
        s: Snapshot,
        queries: np.ndarray,
        k: int,
        decision: Decision,
        latest: Callable[[], Snapshot],
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(rows (N, <=k) person index or -1, squared distances)`` of the nearest people
        (``s`` must have a searchable person)."""
        if decision is Decision.CENTROID:
            return self._search_centroids(s, queries, k, latest)
        return self._search_faces(s, queries, k, latest)

    def build(self, s: Snapshot, decision: Decision, latest: Callable[[], Snapshot]) -> None:
        """Build (or bring up to date) the index ``decision`` searches, if it uses one."""
        if decision is Decision.NEAREST_FACE and self.use_ann(s.n):
            self._face_index(latest)
        elif decision is Decision.CENTROID and self.use_ann(s.searchable):
            self._centroid_index(latest)

    def use_ann(self, n: int) -> bool:
        return n >= self.options.threshold

    def after_removal(
        self, before: Snapshot | None, decision: Decision, latest: Callable[[], Snapshot]
    ) -> None:
        """This process removed faces (already told by :meth:`faces_removed`): rewrite the
        kept index without them, or erase it, so it keeps no removed face's vector.

        ``before`` is the snapshot the removal was made from (``None`` if the gallery was
        reloaded): without an index in memory, the kept one is read back against it, the
        removal applied, and saved again; anything else erases it (the next search
        builds one)."""
        if self.kept is None:
            return
        with self.lock:
            s = latest()
            n = s.searchable if decision is Decision.CENTROID else s.n
            state = self.states[decision]
            if state.index is None and before is not None and before.n and self.use_ann(n):
                self._restore(state, decision, before)
            saved = False
            if state.index is not None and self.use_ann(n) and s.n:
                self._sync(state, decision, s)
                saved = self._save(state, decision, s)
            if not saved:
                self.kept.erase()

    def _search_faces(self, s: Snapshot, q: np.ndarray, k: int, latest):
        if not self.use_ann(s.n):
            return exact_search(q, s.vectors, s.sq_norms, k, (s.owners, *s.groups))
        index = self._face_index(latest)
        # Ask for more faces than people: a person's several faces may fill the list.
        want = min(s.n, max(self.options.rerank, k if k == 1 else 8 * k))
        ids, _ = index.search(q, want)
        rows = np.searchsorted(s.face_ids, ids)
        rows = np.minimum(rows, s.n - 1)
        # Faces enrolled or removed after this snapshot was taken are skipped.
        ok = (ids >= 0) & (s.face_ids[rows] == ids)
        # Re-rank the candidates by their exact distances (the index may hold 8-bit codes).
        d2 = np.where(ok, ((q[:, None, :] - s.vectors[rows]) ** 2).sum(-1), np.inf)
        order = np.argsort(d2, axis=1, kind="stable")
        d2 = np.take_along_axis(d2, order, 1)
        owner = np.take_along_axis(np.where(ok, s.owners[rows], -1), order, 1)
        if k == 1:
            return owner[:, :1], d2[:, :1]
        out_p = np.full((q.shape[0], k), -1, np.int64)
        out_d = np.full((q.shape[0], k), np.inf, np.float32)
        for i in range(q.shape[0]):
            seen: set[int] = set()
            j = 0
            for p, d in zip(owner[i], d2[i], strict=True):
                if p < 0 or p in seen:
                    continue
                seen.add(int(p))
                out_p[i, j], out_d[i, j] = p, d
                j += 1
                if j == k:
                    break
        return out_p, out_d

    def _search_centroids(self, s: Snapshot, q: np.ndarray, k: int, latest):
        if not self.use_ann(s.searchable):
            cents, sq, person = s.centroids
            cols, d2 = exact_search(q, cents, sq, k)
            return person[cols], d2
        index = self._centroid_index(latest)
        want = min(s.searchable, max(k, self.options.rerank))
        ids, _ = index.search(q, want)
        # Index keys are person ids; map them onto this snapshot's people (people
        # enrolled or removed after the snapshot was taken are skipped).
        pidx = np.minimum(np.searchsorted(s.person_ids, ids), len(s.person_ids) - 1)
        ok = (ids >= 0) & (s.person_ids[pidx] == ids) & (s.centroid_row[pidx] >= 0)
        pidx = np.where(ok, pidx, -1)
        # Only the candidates' centroids (s.centroids would compute every person's).
        found, at = np.unique(pidx[ok], return_inverse=True)
        cand = np.zeros(pidx.shape + (q.shape[1],), np.float32)
        cand[ok] = s.centroids_of(found)[at]
        d2 = np.where(ok, ((q[:, None, :] - cand) ** 2).sum(-1), np.inf)
        order = np.argsort(d2, axis=1, kind="stable")[:, :k]
        d2 = np.take_along_axis(d2, order, 1)
        people = np.take_along_axis(pidx, order, 1)
        return np.where(np.isfinite(d2), people, -1), d2

    def _centroid_index(self, latest: Callable[[], Snapshot]) -> AnnIndex:
        return self._index(Decision.CENTROID, latest)

    def _face_index(self, latest: Callable[[], Snapshot]) -> AnnIndex:
        return self._index(Decision.NEAREST_FACE, latest)

    def _index(self, decision: Decision, latest: Callable[[], Snapshot]) -> AnnIndex:
        """The index of ``decision``, in step with the latest snapshot: read back from
        where it is kept, or built (and kept), then synced with the writes since."""
        state = self.states[decision]
        with self.lock:
            # The latest snapshot, not the caller's: the pending changes may name people
            # or faces changed after the caller's snapshot, and syncing them from an
            # older one would leave stale entries in the index.
            s = latest()
            n = s.searchable if decision is Decision.CENTROID else s.n
            if state.index is None:
                self._restore(state, decision, s)
            if state.index is None or state.index.needs_rebuild(n):
                start = time.perf_counter()
                if decision is Decision.CENTROID:
                    cents, _, person = s.centroids
                    state.index = AnnIndex(cents, s.person_ids[person], self.options)
                    self.centroid_dirty.clear()
                else:
                    state.index = AnnIndex(s.vectors, s.face_ids, self.options)
                    state.removed.clear()
                state.max_face_id = int(s.face_ids[-1])
                if self.kept is not None:
                    why = self.kept.status.detail if self.kept.status.source == "none" else ""
                    self.kept.status = IndexStatus("built", why, time.perf_counter() - start)
                self._save(state, decision, s)
            else:
                self._sync(state, decision, s)
                if s.n - state.kept_faces > RESAVE_FRACTION * state.kept_faces:
                    self._save(state, decision, s)
            return state.index

    def _sync(self, state: AnnState, decision: Decision, s: Snapshot) -> None:
        """Bring ``state.index`` in step with snapshot ``s`` (under :attr:`lock`)."""
        if decision is Decision.CENTROID:
            if self.centroid_dirty:
                dirty = np.fromiter(self.centroid_dirty, np.int64)
                self.centroid_dirty.clear()
                state.index.remove(dirty)
                pidx = np.searchsorted(s.person_ids, dirty)
                pidx = np.minimum(pidx, max(len(s.person_ids) - 1, 0))
                present = (s.person_ids[pidx] == dirty) if len(s.person_ids) else dirty < 0
                pidx = pidx[present]
                keep = s.centroid_row[pidx] >= 0  # people left without faces stay out
                state.index.add(s.centroids_of(pidx[keep]), dirty[present][keep])
            if s.n:
                state.max_face_id = int(s.face_ids[-1])
            return
        if state.removed:
            state.index.remove(np.concatenate(state.removed))
            state.removed.clear()
        start = int(np.searchsorted(s.face_ids, state.max_face_id, side="right"))
        if start < s.n:
            state.index.add(s.vectors[start:], s.face_ids[start:])
            state.max_face_id = int(s.face_ids[-1])

    def _restore(self, state: AnnState, decision: Decision, s: Snapshot) -> None:
        """Read the kept index back if it reflects ``s``'s faces up to its highest id,
        and mark what ``s`` added since as pending (under :attr:`lock`)."""
        if self.kept is None or not s.n:
            return
        centroid = decision is Decision.CENTROID
        kept = self.kept.restore(s, decision.value, centroid=centroid)
        if kept is None:
            return
        state.index = AnnIndex.restored(kept.index, self.options, kept.trained_on)
        state.max_face_id = kept.max_face_id
        state.kept_faces = kept.faces
        if centroid:
            # People with faces after the kept ones: their centroids changed.
            later = np.unique(s.owners[kept.faces :])
            self.centroid_dirty.update(int(p) for p in s.person_ids[later])

    def _save(self, state: AnnState, decision: Decision, s: Snapshot) -> bool:
        """Keep ``state.index``, which reflects ``s`` exactly (under :attr:`lock`)."""
        if self.kept is None or not s.n:
            return False
        state.kept_faces = s.n
        with state.index._lock:  # noqa: SLF001 - serialising must not meet an add
            return self.kept.save(
                state.index.faiss_index, s, decision.value, trained_on=state.index.trained_on
            )


def to_result(
    s: Snapshot, rows: np.ndarray, d2: np.ndarray, k: int, threshold: float
) -> SearchResult:
    """A :class:`SearchResult` from :meth:`Searcher.nearest`'s person rows and squared
    distances, padded to ``k`` columns; accepted where the distance is within
    ``threshold``."""
    n_q, got = rows.shape
    names = np.full((n_q, k), None, dtype=object)
    dist = np.full((n_q, k), np.inf, dtype=np.float32)
    valid = rows >= 0
    # Per result, not np.array(s.people): that copy costs ms at 100k+ people.
    names[:, :got] = [[s.people[r] if r >= 0 else None for r in row] for row in rows.tolist()]
    dist[:, :got] = np.where(valid, np.sqrt(np.maximum(d2, 0.0)), np.inf)
    return SearchResult(names, dist, dist <= threshold, threshold)
