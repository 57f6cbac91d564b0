"""``Gallery``: enrolled people and their face embeddings, stored in SQLite, searched in RAM.

Threads: one writer thread and any number of reader threads may share a gallery. Writes
(enroll, rename, remove, calibrate, import) are serialised by one lock and each is one
SQLite transaction; after it commits, a new immutable in-memory snapshot is published with
one reference assignment. A search works on whichever snapshot it picked up, so it never
sees half a write and never waits for a write's disk I/O.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import GalleryError, InvalidArgumentError, InvalidNameError
from workbench.gallery import annstore, integrity, pgstore, store
from workbench.gallery import batches as _batches
from workbench.gallery import calibrate as _calibrate
from workbench.gallery import changes as _changes
from workbench.gallery import enroll as _enroll
from workbench.gallery import lookalike as _lookalike
from workbench.gallery import negatives as _negatives
from workbench.gallery import portable as _portable
from workbench.gallery import stores as _stores
from workbench.gallery import unknowns as _unknowns
from workbench.gallery import verdict as _verdict
from workbench.gallery.calibrate import Calibration, ThresholdInfo
from workbench.gallery.enroll import EnrollSummary, MultipleFaces
from workbench.gallery.names import folder_key, lookup_name, validate_name
from workbench.gallery.portable import ImportSummary
from workbench.gallery.search import (
    IndexOptions,
    Searcher,
    SearchResult,
    check_queries,
)
from workbench.gallery.snapshot import Buffers, Snapshot
from workbench.gallery.stores import GalleryStore
from workbench.gallery.types import Decision, FaceBatch, PersonInfo, is_fused
from workbench.gallery.unknowns import UnknownFace, UnknownsPolicy

if TYPE_CHECKING:
    from workbench.gallery.naming import NameResult
    from workbench.gallery.proposals import Proposals
    from workbench.gallery.scan import ScanSummary

#: Where the notebooks and the CLI keep the gallery unless told otherwise.
DEFAULT_PATH = Path("reference_images") / "gallery.sqlite"

#: Embedding size of dlib's ResNet, the only embedder so far.
DEFAULT_DIM = 128

#: Sizes up to which a file gets SQLite's structural checks at open (see :mod:`.stores`).
QUICK_CHECK_MAX_BYTES = _stores.QUICK_CHECK_MAX_BYTES
INTEGRITY_CHECK_MAX_BYTES = _stores.INTEGRITY_CHECK_MAX_BYTES


def default_threshold(model_id: str | None = None) -> float:
    """A new gallery's threshold before any calibration: ``workbench.embed.
    DEFAULT_THRESHOLD`` (dlib's 0.6), or the fused embedder's for its model ids; read
    without importing Keras."""
    try:
        if is_fused(model_id):
            from workbench.embed.fused import FUSED_THRESHOLD

            return float(FUSED_THRESHOLD)
        from workbench.embed import DEFAULT_THRESHOLD
    except ImportError:  # the embed package is optional for a gallery-only install
        return 0.6
    return float(DEFAULT_THRESHOLD)


def model_dim(model_id: str | None) -> int:
    """Embedding width of a model id: 320 for the fused embedder, else dlib's 128."""
    if is_fused(model_id):
        return 320
    return DEFAULT_DIM


class Gallery:
    """Enrolled identities in one SQLite file, searched by Euclidean distance.

    Args:
        path: the gallery file, e.g. :data:`DEFAULT_PATH`.
        model_id: the embedder whose vectors this gallery holds
            (``Embedder.model_id``). Opening a gallery of another model refuses. ``None``
            opens an existing gallery whatever its model (for listing and export).
        create: create the file (and its folder) when it does not exist.
        dim: embedding size, used when creating; ``None``: the model's
            (:func:`model_dim`).
        decision: person centroid (default) or nearest face, see :class:`Decision`.
        index: options of the approximate index used past ``index.threshold`` vectors.

    Raises:
        GalleryError: missing file with ``create=False``, not a gallery, corrupt or
            truncated, another schema version, or another ``model_id``.

    Example:
        >>> with Gallery("gallery.sqlite", model_id="dlib_resnet_v1") as g:  # doctest: +SKIP
        ...     g.enroll("Ada", ["ada1.jpg", "ada2.jpg"], recognizer=rec)
        ...     print([m.label for m in g.search(embeddings).best()])
    """

    def __init__(
        self,
        path: str | os.PathLike = DEFAULT_PATH,
        *,
        model_id: str | None,
        create: bool = True,
        dim: int | None = None,
        decision: Decision | str = Decision.CENTROID,
        index: IndexOptions | None = None,
    ) -> None:
        # A URL (postgresql://user@host:port/db) is a database; anything else a file.
        self._url = str(path) if pgstore.is_url(path) else None
        self.path = pgstore.display(self._url) if self._url else Path(path)
        self._listener: pgstore.Listener | None = None
        self._store_problem: str | None = None
        self._retry_at = 0.0
        #: Times the connection to the store was lost since open (PostgreSQL).
        self.store_outages = 0
        try:
            self.decision = Decision(decision)
        except ValueError:
            valid = [d.value for d in Decision]
            raise InvalidArgumentError(
                f"decision must be one of {valid}, but got {decision!r}"
            ) from None
        self.index_options = index or IndexOptions()
        self._lock = threading.RLock()  # writers and the SQLite connection
        self._search = Searcher(self.index_options)  # search dispatch, approximate indexes
        self._store: GalleryStore | None = None
        self._writing = False  # a write of this object is between BEGIN and publish
        self._folders: tuple[tuple[str, ...], dict[str, str]] | None = None
        self._verify = True  # rows carry checksums (schema 2)
        self._store = self._open(model_id, create, model_dim(model_id) if dim is None else dim)
        # The look-alike rule in the distances of the gallery's model (known once open).
        rule = _lookalike.defaults_for(self.model_id)
        #: The best of two look-alike people must beat the second by this much to be
        #: accepted (:mod:`.lookalike`; 0 turns the rule off).
        self.margin = rule.margin
        #: People whose centroids lie this close are look-alikes: the margin applies
        #: between them and :meth:`look_alikes` reports them (:mod:`.lookalike`).
        self.lookalike_distance = rule.distance
        # Past the threshold the index is read back from beside the file / the database.
        self._search.kept = annstore.KeptIndex(
            annstore.slot_for(self.path, self._url),
            model_id=self.model_id,
            dim=self.dim,
            options=self.index_options,
        )
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ open / close

    def _open(self, model_id: str | None, create: bool, dim: int) -> GalleryStore:
        def threshold() -> float:
            return default_threshold(model_id)

        if self._url is not None:
            st, meta = _stores.open_database(
                self._url, model_id=model_id, create=create, dim=dim, threshold=threshold
            )
        else:
            st, meta = _stores.open_file(
                self.path, model_id=model_id, create=create, dim=dim, threshold=threshold
            )
        self._verify = meta["schema_version"] != "1"  # schema 1 (read-only): no checksums
        self.model_id: str = meta["model_id"]
        self.dim = int(meta["dim"])
        self._meta = meta
        if self._url is not None:
            # Told of other processes' writes by NOTIFY: a search asks the server only then.
            self._listener = pgstore.Listener(self._url)
        return st

    @property
    def _conn(self):
        """The store's connection (``None`` once closed)."""
        return None if self._store is None else self._store.conn

    def _load(self) -> None:
        """Read the whole file into a fresh snapshot (at open, and after another process
        wrote)."""
        # One read transaction: people, faces and meta agree.
        st = self._store_or_raise()
        with st.read_transaction():
            version = st.data_version()
            meta = st.read_meta()
            logged = meta["schema_version"] == str(store.SCHEMA_VERSION)
            position = st.newest_change() if logged else 0
            people, face_ids, owner_ids, vectors = st.load(self.dim, verify=self._verify)
            negatives = _negatives.load(st.conn, self.path, self.dim) if self._verify else {}
        if meta["model_id"] != self.model_id or int(meta["dim"]) != self.dim:
            raise GalleryError(
                f"{self.path}: the gallery's model changed on disk to {meta['model_id']!r} "
                f"({meta['dim']}-D) while open with {self.model_id!r}; open it again"
            )
        self._person_ids = np.array([p[0] for p in people], np.int64)
        names = tuple(p[1] for p in people)
        owners = np.searchsorted(self._person_ids, owner_ids)
        self._buffers = Buffers(face_ids, owners, vectors)
        self._negatives = negatives  # {person id: (m, D)}, replaced whole on each write
        self._meta = meta
        self._data_version = version
        self._logged = logged  # a change log to follow (else: reload on each change)
        self._position = position  # the last log row this snapshot holds
        # Index keys are ids, but what they map to may have changed: start over.
        self._search.reset()
        self._version = getattr(self, "_version", 0)
        self._publish(names)

    def _load_changes(self) -> None:
        """Another process wrote: apply the change log's rows after this snapshot's
        position (:mod:`.changes`: the added and renamed rows are read, removals drop
        rows in memory). Everything is read again only when the log cannot tell (trimmed
        past the position, went back, damaged), on a schema or model change, or for a
        file without a log (schema 4 opened read-only)."""
        if not self._logged:
            return self._load()
        s = self._state
        st = self._store_or_raise()
        with st.read_transaction():  # one state, as _load
            version = st.data_version()
            meta = st.read_meta()
            pending = self._pending(st.changes_since(self._position), meta)
            if pending is not None:
                got = _changes.read(st, self.dim, pending, s)
                negatives = (
                    _negatives.load(st.conn, self.path, self.dim) if pending.negatives else None
                )
        if pending is None:
            return self._load()
        if meta["model_id"] != self.model_id or int(meta["dim"]) != self.dim:
            return self._load()  # which says what changed
        applied = _changes.apply(s, self._buffers, pending, got)
        if applied is None:
            return self._load()
        self._person_ids = applied.person_ids
        self._buffers = applied.buffers
        if negatives is not None:
            self._negatives = negatives
        elif pending.removed_people:
            gone = pending.removed_people
            self._negatives = {p: v for p, v in self._negatives.items() if p not in gone}
        self._meta = meta
        self._data_version = version
        self._position = pending.newest
        self._publish(applied.names)
        if applied.removed.size:
            self._search.faces_removed(applied.removed, applied.changed.tolist())
        elif applied.changed.size:
            self._search.people_changed(applied.changed.tolist())

    def _pending(self, rows: list[tuple] | None, meta: dict[str, str]):
        """The log rows summed up, or ``None`` where only a full reload will do."""
        if rows is None or meta["schema_version"] != self._meta["schema_version"]:
            return None
        try:
            return _changes.pending(rows, self._position)
        except ValueError:
            return None  # a kind of change this version does not know

    def _fresh(self) -> Snapshot:
        """The snapshot, reloaded first if another connection committed since it was made.

        ``PRAGMA data_version`` tells (about 10 us). While this gallery's own writer is
        inside a write, the current snapshot is used as is: the write itself reloads if
        another process wrote before it, so searches never wait for a write's disk I/O.
        """
        if self._writing:
            return self._state
        listener = self._listener
        if listener is not None and not listener.changed.is_set():
            return self._state  # no NOTIFY since the last look: nothing changed
        with self._lock:
            st = self._store_or_raise()
            if listener is not None:
                return self._fresh_database(st, listener)
            if st.data_version() != self._data_version:
                self._load_changes()
            return self._state

    def _fresh_database(self, st: GalleryStore, listener: pgstore.Listener) -> Snapshot:
        """PostgreSQL: ask the server only after a NOTIFY. With the server gone, searches
        go on from the last snapshot, the loss is said once (:attr:`store_problem`, a
        warning) and a new connection is tried at most every second."""
        listener.changed.clear()  # before asking: a NOTIFY after this sets it again
        try:
            if st.broken:
                if time.monotonic() < self._retry_at:
                    listener.changed.set()
                    return self._state
                self._reconnect()
                self._load()
            elif st.data_version() != self._data_version:
                self._load_changes()
        except GalleryError as exc:
            if not st.broken:
                raise  # the server answered: a real error, not a lost connection
            self._retry_at = time.monotonic() + 1.0
            listener.changed.set()  # look again on the next search
            if self._store_problem is None:
                self._store_problem = str(exc)
                self.store_outages += 1
                logging.getLogger(__name__).warning(
                    "%s; searching the last snapshot until it is back", exc
                )
            return self._state
        if self._store_problem is not None:
            logging.getLogger(__name__).warning("%s: the connection is back", self.path)
            self._store_problem = None
        return self._state

    def _reconnect(self) -> None:
        """A new connection in place of a broken one (raises GalleryError while down)."""
        self._store_or_raise().reconnect(self._url)

    @property
    def store_problem(self) -> str | None:
        """Why the store cannot be reached now (a PostgreSQL server gone), or ``None``.

        While set, searches use the last snapshot; it clears when a connection is back.
        :attr:`store_outages` counts the losses since open.
        """
        return self._store_problem

    def _stale(self) -> bool:
        """Inside a write transaction: has another connection committed since our load?"""
        return self._store_or_raise().data_version() != self._data_version

    def _publish(self, names: tuple[str, ...]) -> None:
        face_ids, owners, vectors, sq = self._buffers.views()
        self._version += 1
        self._state = Snapshot(
            face_ids, owners, vectors, sq, names, self._person_ids.copy(), self._version
        )

    def _latest(self) -> Snapshot:
        """The snapshot published last (the index upkeep syncs from it)."""
        return self._state

    def snapshot(self) -> Snapshot:
        """The rows a search reads now (read-only arrays, never changed once published);
        not reloaded from the file first, so under :meth:`locked` it agrees with
        :attr:`meta`."""
        return self._state

    @property
    def _ann(self) -> dict:
        """The approximate index of each decision (:class:`.search.AnnState`)."""
        return self._search.states

    def close(self) -> None:
        """Close the SQLite connection; searching a closed gallery raises."""
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            if self._store is not None:
                self._store.close()
                self._store = None

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self._state
        return (
            f"Gallery({str(self.path)!r}, model_id={self.model_id!r}, people={len(s.people)}, "
            f"faces={s.n}, threshold={float(self._meta['threshold']):.3f})"
        )

    def _store_or_raise(self) -> GalleryStore:
        if self._store is None:
            raise GalleryError(f"{self.path}: the gallery is closed")
        return self._store

    def _conn_or_raise(self):
        return self._store_or_raise().conn

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        """Number of enrolled faces (in the file now, whoever wrote them)."""
        return self._fresh().n

    def __contains__(self, name: object) -> bool:
        try:
            return lookup_name(name) in self._fresh().people
        except GalleryError:
            return False

    @property
    def people(self) -> list[str]:
        """Names of the enrolled people, in enrollment order."""
        return list(self._fresh().people)

    @property
    def threshold(self) -> float:
        """Largest distance accepted as a match (stored in the file)."""
        self._fresh()
        return float(self._meta["threshold"])

    @property
    def threshold_source(self) -> str:
        """Where the threshold came from: ``"calibrated on N people / M faces"``,
        ``"prior for N people"``, ``"set by you"`` (``"default"`` before any enrollment)."""
        self._fresh()
        return self.threshold_info.source

    @property
    def threshold_info(self) -> ThresholdInfo:
        """The threshold, its source, target and measured rates; see :func:`.calibrate.refresh`."""
        return _calibrate.threshold_info(self)

    def list_people(self) -> list[PersonInfo]:
        """Every person with the number of faces, in enrollment order."""
        with self._lock:
            rows = self._store_or_raise().people_counts()
        return [PersonInfo(name, n, created) for name, n, created in rows]

    def people_frame(self):
        """:meth:`list_people` as a pandas DataFrame (columns name, faces, created)."""
        import pandas as pd

        rows = self.list_people()
        return pd.DataFrame(
            {
                "name": [p.name for p in rows],
                "faces": [p.faces for p in rows],
                "created": [p.created for p in rows],
            }
        )

    def faces(self, name: str | None = None) -> list[store.FaceRecord]:
        """Enrolled faces (all, or one person's), without embeddings, by id."""
        name = None if name is None else lookup_name(name)
        with self._lock:
            return self._store_or_raise().face_records(name)

    def stored_photos(self, name: str) -> list[Path]:
        """Photos of ``name`` that the workbench itself saved (the enroll panel's
        captures and uploads): :meth:`remove_person` deletes these, and only these."""
        name = lookup_name(name)
        with self._lock:
            return [Path(p) for p in self._store_or_raise().stored_sources(name)]

    def embeddings(self) -> tuple[np.ndarray, list[str]]:
        """``((n, D) float32 copy of every embedding, owner name of each row)``."""
        s = self._fresh()
        return s.vectors.copy(), [s.people[i] for i in s.owners]

    # ------------------------------------------------------------------ search

    def search(self, embeddings: np.ndarray, k: int = 1) -> SearchResult:
        """The ``k`` nearest people of each query embedding.

        Exact below ``index.threshold`` enrolled vectors, approximate (faiss IVF) above;
        an approximate search can miss the true nearest person but never reports a
        distance smaller than the true one, so it never accepts a stranger that exact
        search would reject.

        Args:
            embeddings: ``(N, D)`` (or one ``(D,)``) float embeddings.
            k: how many distinct people per query, nearest first.

        Returns:
            A :class:`SearchResult` of shape ``(N, k)``; ``.best()`` gives one
            :class:`Match` per query.

        Raises:
            InvalidArgumentError: wrong shape, non-finite values, or ``k < 1``.
            GalleryError: the gallery is closed.
        """
        if not isinstance(k, int | np.integer) or k < 1:
            raise InvalidArgumentError(f"k must be an integer >= 1, but got {k!r}")
        queries = check_queries(embeddings, self.dim)
        s = self._fresh()
        threshold = float(self._meta["threshold"])
        if not s.searchable or not queries.shape[0]:
            return SearchResult.empty(queries.shape[0], k, threshold)
        # The verdict goes between the nearest people and the result: look-alikes need
        # a margin over the second-best, and corrections ("not X") can veto X.
        margin = self.margin if s.searchable >= 2 else 0.0
        rows, d2 = self._search.nearest(
            s, queries, max(k, 2) if margin > 0 else k, self.decision, self._latest
        )
        return _verdict.decide(
            s,
            queries,
            rows,
            d2,
            k=k,
            threshold=threshold,
            margin=margin,
            within=self.lookalike_distance,
            corrections=self._negatives,
        )

    def build_index(self) -> None:
        """Build (or bring up to date) the approximate index now instead of on first search.

        Only has an effect past ``index.threshold`` vectors. The index is read back from
        where the gallery keeps it when that one is sound and current
        (:mod:`.annstore`), and kept there after a build; :attr:`index_status` says which.
        """
        self._search.build(self._state, self.decision, self._latest)

    @property
    def index_status(self) -> annstore.IndexStatus:
        """Where this process's approximate index came from: read back (``"kept"``),
        ``"built"`` here (and why the kept one was not used), or ``"none"`` yet."""
        return self._search.kept.status

    # ------------------------------------------------------------------ writing

    def add_embeddings(
        self,
        name: str,
        embeddings: np.ndarray,
        *,
        sources: Iterable[str | None] | None = None,
        sha256s: Iterable[str | None] | None = None,
        boxes: Iterable[object] | None = None,
        detector: str | list[str | None] | None = None,
        scores: Iterable[float | None] | None = None,
    ) -> list[int]:
        """Enroll ready-made embeddings for one person in one transaction.

        :meth:`enroll` and :meth:`enroll_folder` end here; use this directly when the
        embeddings come from elsewhere (a notebook, the live loop).

        Args:
            name: the person (created if new).
            embeddings: ``(m, D)`` float embeddings of this gallery's model.
            sources, sha256s, boxes, scores: per-row metadata, ``m`` each (or ``None``).
            detector: name of the detector that found the faces (or one per row).

        Returns:
            The new face ids.

        Raises:
            InvalidNameError: a bad name.
            InvalidArgumentError: wrong shape or non-finite values.
            GalleryError: the write failed (the gallery is left as it was).
        """
        batch = FaceBatch(name, embeddings, sources, sha256s, boxes, detector, scores)
        return self.add_many([batch])[0]

    def add_many(
        self,
        batches: Iterable[FaceBatch],
        *,
        refresh: bool = True,
        inside=None,
        skip_known: dict[str, str] | None = None,
    ) -> list[list[int]]:
        """Several people's faces in one transaction (enroll and import end here).

        Who a face belongs to is decided inside the transaction from the file (the person
        row with that name, created if missing), never from this object's snapshot,
        which another process may have made stale.

        Args:
            batches: one :class:`FaceBatch` per person.
            refresh: re-derive the threshold afterwards (:func:`.calibrate.refresh`);
                ``enroll_folder`` does it once at the end instead of after each batch.
            inside: called with the connection inside the same transaction, after the
                inserts (naming a proposal removes its unknowns there: all or nothing).
            skip_known: a dict: faces whose sha256 the file holds already (checked
                inside the transaction, so another process's enrollment of the same
                photo a moment earlier counts) are not written; their sha256 is added
                to this dict with the person holding it. Their ids are left out.

        Returns:
            The new face ids, one list per batch.

        Raises:
            InvalidNameError, InvalidArgumentError, GalleryError: as :meth:`add_embeddings`.
        """
        # Every batch is checked before the transaction starts: all or nothing.
        prepared = [_batches.prepare(batch, self.dim) for batch in batches]
        with self.writer() as conn:
            st = self._store_or_raise()
            created = store.now()
            new_ids: list[list[int]] = []
            new_people: list[tuple[int, str]] = []
            appended = []
            with st.transaction():
                stale = self._stale()
                next_pid = st.next_id("people")
                next_fid = st.next_id("faces")
                held, folders, face_rows = {}, None, []
                if skip_known is not None:
                    digests = sorted({h for _, _, c in prepared for h in c[1] if h})
                    held = st.sha256_holders(digests)
                    skip_known.update(held)
                for name, vecs, cols in prepared:
                    if held:
                        keep = [i for i, h in enumerate(cols[1]) if h not in held]
                        vecs, cols = vecs[keep], [[col[i] for i in keep] for col in cols]
                    srcs, shas, bxs, scs, dets, owned = cols
                    if not vecs.shape[0]:
                        new_ids.append([])
                        continue
                    row = st.person_row(name)
                    if row is None:
                        folders = self._check_case(name, folders, stale=stale)
                        pid, next_pid = next_pid, next_pid + 1
                        st.insert_person(pid, name, created)
                        new_people.append((pid, name))
                    else:
                        pid = row[0]
                    ids = list(range(next_fid, next_fid + vecs.shape[0]))
                    next_fid += vecs.shape[0]
                    face_rows += [
                        (fid, pid, src, sha, box, det, self.model_id, sc, created, own)
                        for fid, src, sha, box, sc, det, own in zip(
                            ids, srcs, shas, bxs, scs, dets, owned, strict=True
                        )
                    ]
                    new_ids.append(ids)
                    appended.append((pid, np.array(ids, np.int64), vecs))
                if appended:
                    # One insert (one log row) for the transaction's faces, ids ascending.
                    st.insert_faces(face_rows, np.concatenate([a[2] for a in appended]))
                if new_people:
                    st.log_change("people", first_id=new_people[0][0], last_id=new_people[-1][0])
                if inside is not None:
                    inside(conn)
                position = st.newest_change()
            if stale:
                self._load_changes()  # the log's rows since our snapshot, ours among them
            else:
                self._mirror_added(new_people, appended)
                self._position = position
            if refresh and appended:
                _calibrate.refresh(self)
        return new_ids

    def _check_case(self, name: str, folders: dict | None, *, stale: bool) -> dict:
        """Inside a write that creates ``name``: refuse it if an enrolled person's name
        differs only by case (one folder on macOS and Windows). ``folders``: the folder
        keys of this transaction so far: the snapshot's when nobody else wrote since it
        (``stale`` false: it holds exactly the store's people), else read from the store
        once per transaction."""
        if folders is None:
            if stale:
                folders = {folder_key(n): n for n in self._store_or_raise().person_names()}
            else:
                folders = dict(self._folder_keys())
        other = folders.get(folder_key(name))
        if other is not None and other != name:
            raise InvalidNameError(
                f"{name!r} differs from the enrolled {other!r} only by case, and the two "
                "would share one photo folder on macOS and Windows: use that name, or "
                "another"
            )
        folders[folder_key(name)] = name
        return folders

    def _folder_keys(self) -> dict[str, str]:
        """``{folder_key(name): name}`` of the snapshot's people, kept between writes and
        extended when names were only appended (reading and folding 25,000 names per new
        person cost ~0.3 s at 100k faces: benchmarks/gallery.py changes)."""
        people = self._state.people
        cached = self._folders
        if cached is not None and cached[0] is people:
            return cached[1]
        if cached is not None and people[: len(cached[0])] == cached[0]:
            keys = cached[1]  # only appended since: fold the new names
            keys.update((folder_key(n), n) for n in people[len(cached[0]) :])
        else:
            keys = {folder_key(n): n for n in people}
        self._folders = (people, keys)
        return keys

    def _mirror_added(self, new_people: list[tuple[int, str]], appended: list[tuple]) -> None:
        """Committed, and nobody else wrote since our snapshot: mirror it in memory."""
        names = list(self._state.people)
        for pid, name in new_people:
            self._person_ids = np.append(self._person_ids, pid)
            names.append(name)
        for pid, ids, vecs in appended:
            owner = int(np.searchsorted(self._person_ids, pid))
            self._buffers.append(ids, np.full(len(ids), owner, np.int64), vecs)
        self._publish(tuple(names))
        self._search.people_changed(int(pid) for pid, _, _ in appended)

    @contextlib.contextmanager
    def writer(self):
        """The lock and connection of one write: open ``store.transaction`` on it, then
        publish what changed (reload, :meth:`reload_negatives`) before leaving; searches
        meanwhile use the snapshot.

        Raises:
            GalleryError: the gallery is closed (or its server is still gone).
        """
        with self._lock:
            st = self._store_or_raise()
            if st.broken:
                self._reconnect()  # the server came back since: write on a new connection
                self._load()
            conn = st.conn
            self._writing = True
            try:
                yield conn
            finally:
                self._writing = False

    @contextlib.contextmanager
    def reader(self):
        """The lock and connection of reads that must see one state of the file (other
        writes of this object wait; searches go on from the snapshot).

        Raises:
            GalleryError: the gallery is closed.
        """
        with self._lock:
            yield self._conn_or_raise()

    def rename(self, old: str, new: str) -> None:
        """Rename a person.

        Raises:
            InvalidNameError: a bad new name.
            GalleryError: no person ``old``, or ``new`` is taken.
        """
        old, new = lookup_name(old), validate_name(new)
        with self.writer():
            st = self._store_or_raise()
            with st.transaction():
                stale = self._stale()
                pid, created = st.existing_person(old, "rename")
                if new != old and st.person_row(new) is not None:
                    raise GalleryError(
                        f"{self.path}: cannot rename {old!r} to {new!r}: that name is taken"
                    )
                if folder_key(new) != folder_key(old):
                    self._check_case(new, None, stale=stale)
                st.rename_person(pid, new, created)
                position = st.newest_change()
            if stale:
                self._load_changes()
                return
            names = list(self._state.people)
            names[int(np.searchsorted(self._person_ids, pid))] = new
            self._position = position
            self._publish(tuple(names))

    def remove_person(self, name: str) -> int:
        """Remove a person, all their faces, and the photos the workbench saved for them.

        Photos the workbench saved itself (:meth:`stored_photos`: the enroll panel's
        captures and uploads) are deleted after the removal commits, each only if the
        file still has the content that was enrolled; an emptied folder goes too.
        Photos enrolled from the user's own files are never touched.

        Returns:
            How many faces went.

        Raises:
            GalleryError: no such person.
        """
        name = lookup_name(name)
        with self.writer():
            st = self._store_or_raise()
            with st.transaction():
                stale = self._stale()
                pid, _ = st.existing_person(name, "remove")
                n, photos = st.delete_person(pid)
                position = st.newest_change()
            if stale:
                self._load_changes()
                self._search.after_removal(None, self.decision, self._latest)
            else:
                s = self._state
                idx = int(np.searchsorted(self._person_ids, pid))
                self._position = position
                self._rebuild_after_removal(s.owners != idx, drop_person=idx)
            _calibrate.refresh(self)
        _enroll.delete_saved_photos(photos)
        return int(n)

    def remove_face(self, face_id: int) -> None:
        """Remove one face by id (see :meth:`faces`); a person left without faces stays.

        A photo the workbench saved for it (see :meth:`stored_photos`) is deleted too.

        Raises:
            GalleryError: no such face.
        """
        with self.writer():
            st = self._store_or_raise()
            with st.transaction():
                stale = self._stale()
                removed = st.delete_face(int(face_id))
                if removed is None:
                    raise GalleryError(f"{self.path}: no face with id {face_id} to remove")
                position = st.newest_change()
            if stale:
                self._load_changes()
                self._search.after_removal(None, self.decision, self._latest)
            else:
                s = self._state
                keep = s.face_ids != int(face_id)
                self._position = position
                self._rebuild_after_removal(keep, drop_person=None)
            _calibrate.refresh(self)
        src, sha, stored = removed
        _enroll.delete_saved_photos([(src, sha)] if stored == 1 else [])

    def _rebuild_after_removal(self, keep: np.ndarray, drop_person: int | None) -> None:
        s = self._state
        owners = s.owners[keep]
        names = list(s.people)
        if drop_person is not None:
            owners = owners - (owners > drop_person)
            del names[drop_person]
            self._person_ids = np.delete(self._person_ids, drop_person)
        removed = s.face_ids[~keep]
        changed = s.person_ids[np.unique(s.owners[~keep])]
        self._buffers = Buffers(s.face_ids[keep], owners, s.vectors[keep])
        self._publish(tuple(names))
        self._search.faces_removed(removed, (int(p) for p in changed))
        # The kept index must not keep the removed faces' vectors either.
        self._search.after_removal(s, self.decision, self._latest)

    def purge(self) -> None:
        """Rewrite the store so removed rows leave no bytes in its files.

        SQLite already overwrites what a removal frees (``secure_delete``) and keeps no
        journal, so this only runs ``VACUUM`` (the file shrinks). PostgreSQL keeps a
        removed row's bytes in the table's pages until they are reused, also after a plain
        ``VACUUM`` (measured: the name and the embedding were still in the table files);
        ``VACUUM FULL`` writes new table files and drops the old ones, which this runs on
        every gallery table, then a ``CHECKPOINT`` where the user may. Still left: the
        write-ahead log holds the row until its segment is recycled, and freed file
        system blocks until overwritten (see docs/SCALING.md). ``VACUUM FULL`` locks
        each table while it rewrites it: other processes' reads and writes wait.

        Raises:
            GalleryError: the store refused (e.g. not the tables' owner).
        """
        with self.writer():
            self._store_or_raise().purge()

    @property
    def keeps_removed_bytes(self) -> bool:
        """Does a removal leave the rows' bytes in the store's files until :meth:`purge`?
        ``True`` for PostgreSQL; SQLite overwrites them at commit (``secure_delete``).
        :mod:`.removal` purges after every removal the CLI and the panels make."""
        return self._url is not None

    def move_sources(self, moves: dict[str, str]) -> int:
        """Point faces whose ``source`` is a key of ``moves`` at the value instead (after
        their photo files were moved, e.g. a person's folder renamed); returns how many.
        """
        moves = {str(k): str(v) for k, v in moves.items()}
        if not moves:
            return 0
        with self.writer():
            st = self._store_or_raise()
            with st.transaction():
                n = st.move_sources(moves)
            # Sources are not part of the in-memory snapshot: nothing to mirror.
        return n

    def set_threshold(self, threshold: float) -> None:
        """Store a threshold set by hand: enrollment keeps it until :meth:`calibrate`.

        Raises:
            InvalidArgumentError: not a positive finite number.
        """
        problem = integrity.threshold_problem(threshold)
        if problem:
            raise InvalidArgumentError(f"threshold: {problem}")
        t = float(threshold)
        _calibrate.set_by_hand(self, t)

    @property
    def meta(self) -> dict[str, str]:
        """A copy of the ``meta`` table as last read or written (model, threshold and its
        provenance); :mod:`.calibrate` keeps the threshold's keys."""
        return dict(self._meta)

    def locked(self):
        """The writer lock, held across a read-then-write (or several reads) that must see
        one state: other writes of this object wait; searches go on from the snapshot."""
        return self._lock

    def write_meta(self, items: dict[str, str], *, inside=None):
        """Store ``meta`` keys (with their checksums) in one transaction and mirror them.

        Args:
            items: the keys and their values.
            inside: called with the connection inside the same transaction (a policy
                stored and applied at once); what it returns is returned.

        Raises:
            InvalidArgumentError: a threshold no open would accept (it would make the
                file unopenable).
        """
        if "threshold" in items and integrity.threshold_problem(items["threshold"]):
            raise InvalidArgumentError(
                f"threshold: {integrity.threshold_problem(items['threshold'])}"
            )
        with self.writer() as conn:
            st = self._store_or_raise()
            with st.transaction():
                st.write_meta(items)
                result = None if inside is None else inside(conn)
            self._meta = {**self._meta, **items}
        return result

    def sha256_known(self, digests: Iterable[str]) -> dict[str, str]:
        """Which of ``digests`` are enrolled already, mapped to the person holding each."""
        with self._lock:
            return self._store_or_raise().sha256_holders(list(digests))

    # ------------------------------------------------------------------ unknowns
    # Faces nobody could name; the code lives in unknowns.py.

    @property
    def unknowns_policy(self) -> UnknownsPolicy:
        """What this gallery keeps of the faces it could not name (see
        :class:`UnknownsPolicy`; stored in the file)."""
        self._fresh()
        return UnknownsPolicy.from_meta(self._meta)

    def set_unknowns_policy(self, policy: UnknownsPolicy | None = None, **changes) -> int:
        """Store a new policy and apply it now; ``set_unknowns_policy(keep=False)`` removes
        every unknown and keeps no more. Keyword ``changes`` are applied to the current
        policy. Returns how many unknowns it removed.

        Raises:
            InvalidArgumentError: a bad value or an unknown field.
        """
        import dataclasses

        base = policy if policy is not None else self.unknowns_policy
        try:
            new = dataclasses.replace(base, **changes)
        except TypeError as exc:
            raise InvalidArgumentError(f"unknowns policy: {exc}") from None
        return _unknowns.set_policy(self, new)

    def add_unknowns(self, embeddings: np.ndarray, **metadata) -> list[int]:
        """Store faces nobody could name; see :func:`.unknowns.add_unknowns`."""
        return _unknowns.add_unknowns(self, embeddings, **metadata)

    def unknowns(self, ids: Iterable[int] | None = None) -> list[UnknownFace]:
        """Stored unknown faces (all, or these ids), by id."""
        return _unknowns.unknown_faces(self, ids)[0]

    def unknown_embeddings(self, ids: Iterable[int] | None = None):
        """``(faces, (n, D) float32 embeddings)`` of the stored unknowns, by id."""
        return _unknowns.unknown_faces(self, ids)

    def count_unknowns(self, ids: Iterable[int] | None = None) -> int:
        """Number of stored unknown faces (or of these ids still stored)."""
        return _unknowns.count(self, ids)

    def remove_unknowns(self, ids: Iterable[int] | None = None) -> int:
        """Remove unknowns for good: all, or these ids (all or none); returns how many."""
        return _unknowns.remove_unknowns(self, ids)

    # ------------------------------------------------------------------ corrections

    def reject(self, embedding_or_face, name: str, *, source: str | None = None) -> list[int]:
        """ "This is not ``name``": store the face as a negative example of that person;
        from then on a probe nearer to it than to ``name``'s own faces is not ``name``.

        Args:
            embedding_or_face: a ``(D,)`` (or ``(n, D)``) embedding, or an
                :class:`UnknownFace` of this gallery.
            name: the enrolled person it is not.
            source: where the face came from (shown by :meth:`negatives`).

        Returns:
            The new correction ids.

        Raises:
            GalleryError: no person ``name``. InvalidArgumentError: a bad embedding.
        """
        if isinstance(embedding_or_face, UnknownFace):
            source = source if source is not None else embedding_or_face.source
            embedding_or_face = self.unknown_embeddings([embedding_or_face.id])[1]
        return _negatives.reject(self, embedding_or_face, name, source=source)

    def negatives(self, name: str | None = None) -> list[_negatives.NegativeRecord]:
        """Stored corrections ("not X"), all or one person's, by id."""
        return _negatives.records(self, name)

    def remove_negatives(self, ids: Iterable[int]) -> int:
        """Remove corrections by id (all or none); returns how many."""
        return _negatives.remove(self, ids)

    def look_alikes(self, names: Iterable[str] | None = None) -> list[_lookalike.LookAlike]:
        """Enrolled people (all, or ``names``) whose nearest other person's centroid lies
        within :attr:`lookalike_distance` (its model's: :func:`.lookalike.defaults_for`)."""
        s = self._fresh()
        return _lookalike.look_alikes(
            s, s.people if names is None else list(names), within=self.lookalike_distance
        )

    def reload_negatives(self) -> None:
        """Read the corrections again after a write changed them (the decision uses the
        copy held in memory)."""
        with self._lock:
            self._negatives = _negatives.load(self._conn_or_raise(), self.path, self.dim)

    def cluster_unknowns(self, **options) -> Proposals:
        """Group the unknown faces into proposed people; see
        :func:`.proposals.cluster_unknowns` (options ``threshold``, ``min_size``)."""
        from workbench.gallery.proposals import cluster_unknowns

        return cluster_unknowns(self, **options)

    def name_proposal(self, cluster_id: int, name: str, **options) -> NameResult:
        """Enroll a proposed person's faces as ``name`` (new or existing; faces below the
        quality floor ``min_quality`` are left out) and remove them from the unknowns, in
        one transaction. Other ``options`` go to :meth:`cluster_unknowns`.

        Raises:
            InvalidNameError: a bad name. GalleryError: no proposal ``cluster_id`` (any
            more), or no face reaches the floor; nothing is written then.
        """
        from workbench.gallery.naming import QUALITY_FLOOR, name_faces

        floor = options.pop("min_quality", QUALITY_FLOOR)
        validate_name(name)  # before clustering: a bad name fails at once
        proposal = self.cluster_unknowns(**options).get(cluster_id)
        return name_faces(self, proposal.face_ids, name, min_quality=floor)

    def name_faces(self, face_ids: Iterable[int], name: str, **options) -> NameResult:
        """Enroll these unknown faces as ``name``; see :func:`.naming.name_faces`."""
        from workbench.gallery.naming import name_faces

        return name_faces(self, face_ids, name, **options)

    def merge_proposals(self, first: int, second: int, **options) -> int:
        """Make two proposed people one (kept as one by later clustering); returns the
        merged proposal's id. One transaction.

        Raises:
            GalleryError: either id names no proposal (any more), or both are the same.
        """
        from workbench.gallery.naming import regroup

        if first == second:
            raise GalleryError(f"cannot merge proposal {first} with itself")
        proposals = self.cluster_unknowns(**options)
        a, b = proposals.get(first), proposals.get(second)
        regroup(self, a.face_ids + b.face_ids)
        return min(a.id, b.id)

    def move_face_out(self, face_id: int) -> None:
        """Take one unknown face out of its proposal (it stays an unknown, on its own).

        Raises:
            GalleryError: no unknown face with that id.
        """
        from workbench.gallery.naming import regroup

        regroup(self, [face_id])

    def discard_proposal(self, cluster_id: int, **options) -> int:
        """Delete a proposed person's faces for good (one transaction); returns how many.

        Raises:
            GalleryError: no proposal ``cluster_id`` (any more).
        """
        return self.remove_unknowns(self.cluster_unknowns(**options).get(cluster_id).face_ids)

    def scan_folder(self, folder: str | os.PathLike, *, recognizer, **options) -> ScanSummary:
        """Every face of every photo under ``folder`` into the unknowns; see
        :func:`.scan.scan_folder`."""
        from workbench.gallery.scan import scan_folder

        return scan_folder(self, folder, recognizer=recognizer, **options)

    # Enrollment, calibration and export live in their own modules.

    def enroll(
        self,
        name: str,
        images,
        *,
        recognizer,
        multiple_faces: MultipleFaces | str = MultipleFaces.LARGEST,
        progress: bool = False,
        face=None,
    ) -> EnrollSummary:
        """Enroll photos of one person in one transaction; see :func:`.enroll.enroll`
        (``face``: an index or a box, the face the user picked)."""
        return _enroll.enroll(
            self,
            name,
            images,
            recognizer=recognizer,
            multiple_faces=multiple_faces,
            progress=progress,
            face=face,
        )

    def enroll_folder(
        self,
        folder: str | os.PathLike = DEFAULT_PATH.parent,
        *,
        recognizer,
        multiple_faces: MultipleFaces | str = MultipleFaces.LARGEST,
        progress: bool = True,
        batch_size: int = 32,
    ) -> EnrollSummary:
        """Enroll ``folder/<person>/<photos>``; see :func:`.enroll.enroll_folder`."""
        return _enroll.enroll_folder(
            self,
            folder,
            recognizer=recognizer,
            multiple_faces=multiple_faces,
            progress=progress,
            batch_size=batch_size,
        )

    def calibrate(
        self, target_far: float | None = None, *, per: str = "stranger", min_faces: int = 2
    ) -> Calibration:
        """Set and store the threshold from this gallery's own faces.

        ``per="stranger"`` (default): at most ``target_far`` of strangers are named as
        somebody; ``per="pair"``: at most ``target_far`` of impostor pairs match;
        ``None``: the default target. The cut is what the faces alone measure (no prior,
        however few they are; :meth:`refresh_threshold` is what enrollment and
        ``workbench calibrate`` use). Later enrollments re-derive at that target, also
        after a threshold set by hand. See :func:`workbench.gallery.calibrate.calibrate`.
        """
        return _calibrate.calibrate(self, target_far, per=per, min_faces=min_faces)

    def refresh_threshold(
        self, *, target_far: float | None = None, force: bool = False
    ) -> ThresholdInfo:
        """Re-derive the threshold as enrollment does (it runs after every enrollment).

        Calibrated on the gallery's own faces when it has enough of them, else the
        prior; a threshold set by hand stays unless ``force``; ``target_far`` ``None``
        keeps the gallery's target. See :func:`workbench.gallery.calibrate.refresh`.
        """
        return _calibrate.refresh(self, target_far=target_far, force=force)

    def export(self, path: str | os.PathLike) -> Path:
        """Write a portable ``.npz`` copy; see :func:`workbench.gallery.portable.export`."""
        return _portable.export(self, path)

    def import_file(self, path: str | os.PathLike) -> ImportSummary:
        """Add an export's people and faces; see :func:`.portable.import_file`."""
        return _portable.import_file(self, path)
