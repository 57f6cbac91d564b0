"""What a stored value may be: embeddings, thresholds, and the checksum of each row.

The same checks run when a value is written and when it is read back, so a value that a
write refuses can never come in through a damaged or hand-edited file either.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

#: Euclidean norms an embedding may have. dlib's ResNet gives 1.27-1.59 (40 LFW faces,
#: measured with dlib-bin); fine-tuned towers keep its scale; unit-normalised models give
#: 1; the fused embedder's full vectors 1.07-1.44 (9,164 LFW photos), so one range serves
#: both models. A vector 4x off that scale is a bug or damage (zeros, a 1e38, a flipped exponent
#: bit), and one such face drags its person's centroid away so that the person's own
#: photos stop matching (seen: ``unknown 0.729`` with one 1e38 face enrolled).
NORM_RANGE = (0.25, 4.0)


def bad_embedding_rows(vectors: np.ndarray) -> np.ndarray:
    """Indices of rows of ``(n, D)`` float32 ``vectors`` that no embedder produces.

    A row is bad when it holds NaN or inf, or its norm is outside :data:`NORM_RANGE`.
    """
    # In the vectors' own float32: a float64 copy of 1M vectors took 0.27-0.41 s against
    # 0.08 s without it (load 0.7; 4.9 s was read off a profile under load). A sum
    # of squares overflows only for rows far above NORM_RANGE (inf: still bad), and
    # underflows only for rows far below it (0: still bad).
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        finite = np.isfinite(vectors).all(axis=1)
        norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
    lo, hi = NORM_RANGE
    return np.flatnonzero(~finite | ~(norms >= lo) | ~(norms <= hi))


def describe_embedding(vector: np.ndarray) -> str:
    """Why one row is bad, in words (for error messages)."""
    if not np.isfinite(vector).all():
        return "holds NaN or inf values"
    norm = float(np.linalg.norm(vector.astype(np.float64)))
    lo, hi = NORM_RANGE
    return f"has norm {norm:.4g}, outside [{lo:g}, {hi:g}]"


def threshold_problem(value: object) -> str | None:
    """``None`` when ``value`` is a usable threshold (finite, > 0), else why not."""
    try:
        t = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"expected a number, but got {value!r}"
    if not math.isfinite(t) or t <= 0:
        return f"expected a positive finite number, but got {value!r}"
    return None


def checksum(table: str, values: tuple, blob: bytes = b"") -> bytes:
    """8-byte BLAKE2b digest of one row of ``table``: its values (key included) and blob.

    ``repr`` of a tuple of ``None``, ``int``, ``float`` and ``str`` is one C call and
    tells every such tuple apart (floats round-trip exactly, strings are quoted, a
    ``bytes`` value where text belongs prints differently), so a row costs about a
    microsecond and 1M faces load in about a second more.

    Not a defence against someone who edits the file on purpose (they can recompute
    it); it catches damage: a flipped bit, a torn page, a stray write.
    """
    h = hashlib.blake2b(repr((table, *values)).encode("utf-8", "surrogatepass"), digest_size=8)
    h.update(blob)
    return h.digest()
