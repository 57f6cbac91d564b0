"""One person's faces (:class:`.types.FaceBatch`) checked and turned into the values the
store keeps, before a write's transaction starts (all or nothing)."""

from __future__ import annotations

import math

import numpy as np

from workbench.errors import InvalidArgumentError
from workbench.gallery import integrity, store
from workbench.gallery.names import validate_name
from workbench.gallery.search import check_queries
from workbench.gallery.types import FaceBatch


def prepare(batch: FaceBatch, dim: int) -> tuple[str, np.ndarray, list[list]]:
    """``(name, vectors, columns)`` of a batch, every value as SQLite will store it.

    Raises:
        InvalidNameError: a bad name. InvalidArgumentError: a bad embedding or a column
            of the wrong length.
    """
    name = validate_name(batch.name)
    vecs = check_queries(batch.embeddings, dim)
    bad = integrity.bad_embedding_rows(vecs)
    if bad.size:
        raise InvalidArgumentError(
            f"embedding {int(bad[0])} of {name!r} "
            f"{integrity.describe_embedding(vecs[bad[0]])}: that is no face embedding "
            "(NaN, inf, zeros or far from unit scale)"
        )
    m = vecs.shape[0]
    detector = batch.detector
    dets = (
        _column(detector, m, "detector") if isinstance(detector, list | tuple) else [detector] * m
    )
    cols = [
        [_text(v) for v in _column(batch.sources, m, "sources")],
        [_text(v) for v in _column(batch.sha256s, m, "sha256s")],
        [store.box_to_text(v) for v in _column(batch.boxes, m, "boxes")],
        [_score(v) for v in _column(batch.scores, m, "scores")],
        [_text(v) for v in dets],
        [int(bool(v)) for v in _column(batch.saved, m, "saved")]
        if batch.saved is not None
        else [0] * m,
    ]
    return name, vecs, cols


def _column(values, m: int, what: str) -> list:
    if values is None:
        return [None] * m
    values = list(values)
    if len(values) != m:
        raise InvalidArgumentError(
            f"{what} must have {m} entries (one per embedding), got {len(values)}"
        )
    return values


def _text(value) -> str | None:
    """A text column's value exactly as SQLite will hand it back (checksums depend on it).

    Lone surrogates (a Linux file name that is not UTF-8, decoded by ``os.fsdecode``)
    cannot be stored as text: they become ``\\udcff``-style escapes.
    """
    if value is None:
        return None
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _score(value) -> float | None:
    """A score as SQLite hands it back: REAL, and NaN stored as NULL."""
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None
