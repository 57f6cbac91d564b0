"""Faces recognition could not name, kept in the gallery so they can be grouped and named.

Each unknown holds its embedding, a small JPEG of the aligned chip (:data:`THUMB_SIZE`
pixels), where it was seen (source, frame, track, box) and a quality score. These are
faces of people who did not agree to be enrolled, so what is kept is bounded and can be
switched off (:class:`UnknownsPolicy`, stored in the gallery file):

- a track (one person followed through a video or the camera) keeps only its
  ``per_track`` best faces (default 3), by :func:`face_quality`;
- at most ``max_count`` unknowns (default 10,000, what clustering handles in about 10 s
  on 2 cores; the oldest go first) and none older
  than ``max_age_days`` (default 30);
- ``keep=False`` ("keep no unknowns") removes every stored unknown and stores no more.

Removal is for good: the gallery's connections run with ``secure_delete`` on, so SQLite
overwrites the freed pages instead of leaving the thumbnails in free space, and the
rollback journal is deleted after each commit.

Every write is one transaction: a failing write leaves the unknowns as they were.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import GalleryError, InvalidArgumentError
from workbench.gallery import integrity, store
from workbench.gallery.search import check_queries

if TYPE_CHECKING:
    from workbench.gallery import Gallery

#: Side of the stored JPEG thumbnail of a chip, pixels (about 2 KB at quality 85).
THUMB_SIZE = 64
THUMB_QUALITY = 85

#: Faces at least this tall (pixels, in the source image) get the full size factor.
FULL_SIZE_PX = 100.0
#: Variance of the chip's Laplacian at which a face counts as fully sharp. Measured on
#: 100 LFW chips (MediaPipe, aligned 150x150): 5th-95th percentile 13-108, median 34; a
#: motion-blurred or out-of-focus chip falls to a few units.
FULL_SHARPNESS = 30.0


@dataclass(frozen=True)
class UnknownsPolicy:
    """What a gallery keeps of the faces it could not name (stored in its meta table).

    Attributes:
        keep: store unknowns at all. ``False`` is "keep no unknowns".
        max_count: at most this many unknowns; the oldest go first.
        max_age_days: unknowns older than this go.
        per_track: a track keeps only its this-many best faces.
    """

    keep: bool = True
    max_count: int = 10_000
    max_age_days: float = 30.0
    per_track: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.keep, bool):
            raise InvalidArgumentError(f"keep must be True or False, but got {self.keep!r}")
        for name in ("max_count", "per_track"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise InvalidArgumentError(f"{name} must be an integer >= 1, but got {value!r}")
        age = self.max_age_days
        if isinstance(age, bool) or not isinstance(age, int | float) or not age > 0:
            raise InvalidArgumentError(f"max_age_days must be a number > 0, but got {age!r}")
        if not math.isfinite(float(age)):
            raise InvalidArgumentError(f"max_age_days must be finite, but got {age!r}")

    def to_meta(self) -> dict[str, str]:
        return {
            "unknowns_keep": "1" if self.keep else "0",
            "unknowns_max_count": str(int(self.max_count)),
            "unknowns_max_age_days": repr(float(self.max_age_days)),
            "unknowns_per_track": str(int(self.per_track)),
        }

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> UnknownsPolicy:
        """The stored policy (defaults for keys a gallery does not have yet)."""
        d = cls()
        try:
            return cls(
                keep=meta.get("unknowns_keep", "1" if d.keep else "0") == "1",
                max_count=int(meta.get("unknowns_max_count", d.max_count)),
                max_age_days=float(meta.get("unknowns_max_age_days", d.max_age_days)),
                per_track=int(meta.get("unknowns_per_track", d.per_track)),
            )
        except (ValueError, InvalidArgumentError) as exc:
            raise GalleryError(f"the gallery's unknowns policy is damaged: {exc}") from None

    def to_dict(self) -> dict:
        return {
            "keep": self.keep,
            "max_count": int(self.max_count),
            "max_age_days": float(self.max_age_days),
            "per_track": int(self.per_track),
        }


@dataclass(frozen=True)
class UnknownFace:
    """One stored unknown face, without its embedding.

    Attributes:
        id: row id, stable until the face is removed.
        source: the photo, video or camera it came from.
        frame: frame index in a video or stream (``None`` for a photo).
        track: the track it belonged to (``None`` for a photo).
        box: ``(x1, y1, x2, y2)`` in the source frame.
        score: detector confidence.
        quality: :func:`face_quality` (higher is better).
        created: UTC ISO 8601 time it was stored.
        thumbnail: JPEG bytes of the aligned chip, :data:`THUMB_SIZE` square (or ``None``).
    """

    id: int
    source: str | None
    frame: int | None
    track: str | None
    box: tuple[float, float, float, float] | None
    detector: str | None
    score: float | None
    quality: float | None
    created: str
    thumbnail: bytes | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """JSON-ready (no thumbnail)."""
        return {
            "id": self.id,
            "source": self.source,
            "box": None if self.box is None else [round(v, 1) for v in self.box],
            "frame": self.frame,
            "track": self.track,
            "quality": None if self.quality is None else round(self.quality, 4),
        }


def sharpness(chips: np.ndarray) -> np.ndarray:
    """``(n,)`` variance of the Laplacian of each grey ``(n, H, W, 3)`` uint8 chip."""
    grey = chips.astype(np.float32).mean(axis=3)
    lap = (
        grey[:, :-2, 1:-1] + grey[:, 2:, 1:-1] + grey[:, 1:-1, :-2] + grey[:, 1:-1, 2:]
    ) - 4 * grey[:, 1:-1, 1:-1]
    return lap.reshape(len(chips), -1).var(axis=1)


def face_quality(
    *, scores: np.ndarray | None, boxes: np.ndarray | None, chips: np.ndarray | None, n: int
) -> np.ndarray:
    """``(n,)`` quality in ``[0, 1]``: detector score x size factor x sharpness factor.

    Size factor: face height / :data:`FULL_SIZE_PX`, capped at 1 (small faces embed
    worse). Sharpness factor: :func:`sharpness` / :data:`FULL_SHARPNESS`, capped at 1
    (motion blur embeds worse). A missing part counts as 1.
    """
    q = np.ones(n, np.float64)
    if scores is not None:
        q *= np.clip(np.asarray(scores, np.float64), 0.0, 1.0)
    if boxes is not None:
        b = np.asarray(boxes, np.float64).reshape(n, 4)
        q *= np.clip((b[:, 3] - b[:, 1]) / FULL_SIZE_PX, 0.0, 1.0)
    if chips is not None and n:
        q *= np.clip(sharpness(chips) / FULL_SHARPNESS, 0.0, 1.0)
    return q


def thumbnail(chip: np.ndarray) -> bytes:
    """JPEG bytes of one ``(H, W, 3)`` uint8 chip scaled to :data:`THUMB_SIZE`."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(chip, np.uint8)).resize(
        (THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS
    )
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=THUMB_QUALITY)
    return out.getvalue()


def _checksum(values: tuple, embedding: bytes, thumb: bytes | None) -> bytes:
    return integrity.checksum("unknowns", values, embedding + (thumb or b""))


def require_table(gallery: Gallery) -> None:
    """Raise GalleryError when the gallery has no unknowns table (an old read-only file)."""
    if gallery.meta.get("schema_version") != str(store.SCHEMA_VERSION):
        raise GalleryError(
            f"{gallery.path}: this gallery (schema {gallery.meta.get('schema_version')}) "
            "has no unknowns table and could not be upgraded (is the file read-only?)"
        )


def _rows(values, n: int, what: str) -> list:
    if values is None:
        return [None] * n
    out = list(values)
    if len(out) != n:
        raise InvalidArgumentError(f"{what}: expected {n} values, one per face, got {len(out)}")
    return out


def _prepare(gallery: Gallery, embeddings, chips, boxes, scores) -> tuple:
    vecs = check_queries(embeddings, gallery.dim)
    bad = integrity.bad_embedding_rows(vecs)
    if bad.size:
        raise InvalidArgumentError(
            f"unknown face {int(bad[0])}: embedding "
            f"{integrity.describe_embedding(vecs[bad[0]])}: that is no face embedding"
        )
    n = vecs.shape[0]
    if chips is not None:
        chips = np.asarray(chips)
        if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[0] != n or chips.shape[3] != 3:
            raise InvalidArgumentError(
                f"chips must be uint8 of shape ({n}, H, W, 3), but got {chips.dtype} {chips.shape}"
            )
    box_arr = None
    if boxes is not None:
        box_arr = np.asarray(boxes, np.float64)
        if box_arr.shape != (n, 4) or not np.isfinite(box_arr).all():
            raise InvalidArgumentError(
                f"boxes must be finite, of shape ({n}, 4), but got {box_arr.shape}"
            )
    score_arr = None if scores is None else np.asarray(scores, np.float64).reshape(-1)
    if score_arr is not None and (score_arr.shape != (n,) or not np.isfinite(score_arr).all()):
        raise InvalidArgumentError(f"scores must be {n} finite numbers")
    quality = face_quality(scores=score_arr, boxes=box_arr, chips=chips, n=n)
    thumbs = [thumbnail(c) for c in chips] if chips is not None else [None] * n
    return vecs, box_arr, score_arr, quality, thumbs


def add_unknowns(
    gallery: Gallery,
    embeddings: np.ndarray,
    *,
    chips: np.ndarray | None = None,
    source: str | list[str | None] | None = None,
    frames=None,
    boxes=None,
    tracks=None,
    scores=None,
    detector: str | None = None,
) -> list[int]:
    """Store faces nobody could name, then apply the retention bounds, in one transaction.

    Args:
        gallery: the gallery.
        embeddings: ``(n, D)`` embeddings of this gallery's model.
        chips: ``(n, H, W, 3)`` uint8 aligned chips, for the thumbnails and the sharpness.
        source: the photo, video or camera they came from (or one per face).
        frames, tracks: per face, frame index and track id (``None`` for photos).
        boxes: ``(n, 4)`` boxes in the source frame; scores: ``(n,)`` detector scores.
        detector: the detector's name.

    Returns:
        Ids of the new rows still stored after the bounds were applied (a face that is
        not among its track's best is dropped at once); ``[]`` when the policy keeps no
        unknowns.

    Raises:
        InvalidArgumentError: wrongly shaped or non-finite inputs.
        GalleryError: the write failed (nothing was stored).
    """
    vecs, box_arr, score_arr, quality, thumbs = _prepare(gallery, embeddings, chips, boxes, scores)
    n = vecs.shape[0]
    frame_col = [None if f is None else int(f) for f in _rows(frames, n, "frames")]
    track_col = [None if t is None else str(t) for t in _rows(tracks, n, "tracks")]
    policy = gallery.unknowns_policy
    if not policy.keep or not n:
        return []
    require_table(gallery)
    sources = source if isinstance(source, list | tuple) else [source] * n
    src_col = [None if v is None else str(v) for v in _rows(sources, n, "source")]
    with gallery.writer() as conn:
        with store.transaction(conn, gallery.path):
            created = store.now()
            next_id = store.next_unknown_id(conn)
            ids = list(range(next_id, next_id + n))
            rows = []
            for i, uid in enumerate(ids):
                values = (
                    uid,
                    src_col[i],
                    frame_col[i],
                    track_col[i],
                    None if box_arr is None else store.box_to_text(box_arr[i]),
                    None if detector is None else str(detector),
                    None if score_arr is None else float(score_arr[i]),
                    float(quality[i]),
                    gallery.model_id,
                    created,
                )
                blob = vecs[i].tobytes()
                rows.append((*values, blob, thumbs[i], _checksum(values, blob, thumbs[i])))
            store.insert_unknowns(conn, rows)
            for src, track in sorted(
                {(src_col[i], t) for i, t in enumerate(track_col) if t is not None},
                key=str,
            ):
                store.keep_best_of_track(conn, src, track, policy.per_track)
            _apply_bounds(conn, policy)
            kept = store.unknown_ids_between(conn, ids[0], ids[-1])
    return [i for i in ids if i in kept]


def _apply_bounds(conn, policy: UnknownsPolicy) -> None:
    oldest = datetime.now(UTC) - timedelta(days=float(policy.max_age_days))
    store.delete_unknowns_before(conn, oldest.isoformat(timespec="seconds"))
    store.keep_newest_unknowns(conn, policy.max_count)


def _damaged(gallery: Gallery, uid, why: str) -> GalleryError:
    return GalleryError(
        f"{gallery.path}: unknown face {uid} is damaged ({why}); remove it with "
        "`workbench unknowns --remove` or clear the unknowns"
    )


def _checked(gallery: Gallery, rows: list[tuple]) -> tuple[list[UnknownFace], np.ndarray]:
    faces, vecs = [], []
    size = gallery.dim * 4
    for r in rows:
        values, emb, thumb, digest = r[:10], r[10], r[11], r[12]
        if not isinstance(emb, bytes) or len(emb) != size:
            raise _damaged(gallery, r[0], f"expected {size} embedding bytes")
        if digest != _checksum(values, emb, thumb if isinstance(thumb, bytes) else None):
            raise _damaged(gallery, r[0], "its checksum does not match")
        try:
            box = store.box_from_text(r[4])
        except ValueError:
            raise _damaged(gallery, r[0], "bad box") from None
        faces.append(UnknownFace(r[0], r[1], r[2], r[3], box, r[5], r[6], r[7], r[9], thumb))
        vecs.append(emb)
    arr = np.frombuffer(b"".join(vecs), np.float32).reshape(len(rows), gallery.dim).copy()
    bad = integrity.bad_embedding_rows(arr)
    if bad.size:
        raise _damaged(gallery, rows[int(bad[0])][0], integrity.describe_embedding(arr[bad[0]]))
    return faces, arr


def unknown_faces(gallery: Gallery, ids=None) -> tuple[list[UnknownFace], np.ndarray]:
    """Stored unknowns (all, or those with the given ids) and their ``(n, D)`` embeddings,
    by id, each row checked against its checksum.

    Raises:
        GalleryError: a damaged row, or (with ``ids``) an id that is not stored.
    """
    wanted = None if ids is None else checked_ids(ids)
    require_table(gallery)
    with gallery.reader() as conn:
        rows = store.unknown_rows(conn, gallery.path, wanted)
    if wanted is not None:
        missing = sorted(set(wanted) - {r[0] for r in rows})
        if missing:
            raise GalleryError(f"{gallery.path}: no unknown face with id {missing[0]}")
    return _checked(gallery, rows)


def checked_ids(ids) -> list[int]:
    """Row ids as sorted distinct ints (unknown faces, corrections).

    Raises:
        InvalidArgumentError: a value that is no integer.
    """
    out = []
    for v in ids:
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise InvalidArgumentError(f"unknown face ids must be integers, but got {v!r}")
        out.append(int(v))
    return sorted(set(out))


def sources(gallery: Gallery) -> set[str]:
    """The distinct sources of the stored unknowns (so a folder scanned again adds only
    its new photos)."""
    require_table(gallery)
    with gallery.reader() as conn:
        return store.unknown_sources(conn, gallery.path)


def count(gallery: Gallery, ids=None) -> int:
    """Number of stored unknowns (or of these ids that are still stored)."""
    require_table(gallery)
    wanted = None if ids is None else checked_ids(ids)
    with gallery.reader() as conn:
        return store.count_unknowns(conn, gallery.path, wanted)


def remove_unknowns(gallery: Gallery, ids=None) -> int:
    """Remove unknowns for good (all of them, or the given ids) in one transaction.

    Returns:
        How many rows went.

    Raises:
        GalleryError: (with ``ids``) an id that is not stored: then nothing is removed.
    """
    require_table(gallery)
    with gallery.writer() as conn:
        with store.transaction(conn, gallery.path):
            if ids is None:
                return store.delete_all_unknowns(conn)
            return delete_within(gallery, conn, checked_ids(ids))


def delete_within(gallery: Gallery, conn, wanted: list[int]) -> int:
    """Inside the caller's transaction on ``conn``: delete these unknown ids, all or
    none (naming a proposal enrolls its faces and removes them in one commit).

    Raises:
        GalleryError: an id that is not stored.
    """
    present = store.present_ids(conn, "unknowns", wanted)
    missing = [i for i in wanted if i not in present]
    if missing:
        raise GalleryError(f"{gallery.path}: no unknown face with id {missing[0]}")
    store.delete_ids(conn, "unknowns", wanted)
    return len(wanted)


def set_policy(gallery: Gallery, policy: UnknownsPolicy) -> int:
    """Store ``policy`` and apply it at once (``keep=False`` removes every unknown), in one
    transaction. Returns how many unknowns it removed."""
    if not isinstance(policy, UnknownsPolicy):
        raise InvalidArgumentError(f"expected an UnknownsPolicy, but got {type(policy).__name__}")
    require_table(gallery)

    def apply(conn) -> int:
        before = store.count_unknowns(conn, gallery.path)
        if not policy.keep:
            store.delete_all_unknowns(conn)
        else:
            _apply_bounds(conn, policy)
            for src, track in store.unknown_tracks(conn):
                store.keep_best_of_track(conn, src, track, policy.per_track)
        return before - store.count_unknowns(conn, gallery.path)

    return gallery.write_meta(policy.to_meta(), inside=apply)
