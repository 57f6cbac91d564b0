"""Acting on proposed people: name one, merge two, move a face out, discard one.

Each action is one transaction: naming enrolls the faces that reach the quality floor
and removes every face of the proposal from the unknowns in the same commit, so a crash
leaves either the proposal or the person, never both or neither. Merging and moving out
record the user's grouping in ``unknown_groups``; clustering keeps it as given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import GalleryError, InvalidArgumentError
from workbench.gallery import integrity, store
from workbench.gallery import unknowns as _unknowns
from workbench.gallery.names import validate_name
from workbench.gallery.types import FaceBatch

if TYPE_CHECKING:
    from workbench.gallery import Gallery

#: Faces below this :func:`~workbench.gallery.unknowns.face_quality` are not enrolled when
#: a proposal is named (they leave the unknowns all the same). A sharp, frontal 100 px
#: face of a confident detection scores near 1; a 40 px blurred one near 0.05.
QUALITY_FLOOR = 0.1


@dataclass(frozen=True)
class NameResult:
    """What naming a proposal did.

    Attributes:
        name: the person (NFC).
        new_person: the name was not enrolled before.
        enrolled: ids of the new enrolled faces.
        below_floor: faces not enrolled for their quality (removed from the unknowns).
    """

    name: str
    new_person: bool
    enrolled: list[int]
    below_floor: int

    def __str__(self) -> str:
        who = "new person" if self.new_person else "existing person"
        low = f", {self.below_floor} below the quality floor left out" if self.below_floor else ""
        return f"enrolled {len(self.enrolled)} faces as {self.name} ({who}){low}"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "new_person": self.new_person,
            "enrolled": list(self.enrolled),
            "below_floor": self.below_floor,
        }


def name_faces(
    gallery: Gallery,
    face_ids,
    name: str,
    *,
    min_quality: float = QUALITY_FLOOR,
    also: FaceBatch | None = None,
) -> NameResult:
    """Enroll these unknown faces as ``name`` (new or existing) and remove them from the
    unknowns, in one transaction.

    Args:
        face_ids: ids of stored unknowns (may be empty when ``also`` is given).
        min_quality: faces below it are not enrolled (they leave the unknowns all the
            same).
        also: more faces of this person enrolled in the same transaction whatever their
            quality, since the user picked them (the live panel's "Who is this?": the
            face in view, with the faces its track left among the unknowns); its
            ``name`` is ignored. With it, kept faces all below the floor are no error.

    Returns:
        The :class:`NameResult`; ``enrolled`` lists ``also``'s new ids first.

    Raises:
        InvalidNameError: a name that cannot be stored.
        InvalidArgumentError: ``min_quality`` outside ``[0, 1]``, or no ids and no
            ``also``.
        GalleryError: an id that is not stored, or no face reaches ``min_quality``;
            nothing is written then.
    """
    name = validate_name(name)
    if not isinstance(min_quality, int | float) or not 0.0 <= min_quality <= 1.0:
        raise InvalidArgumentError(f"min_quality must be in [0, 1], but got {min_quality!r}")
    wanted = _unknowns.checked_ids(face_ids)
    if not wanted and also is None:
        raise InvalidArgumentError("naming needs at least one unknown face id")
    batches = []
    if also is not None:
        if not isinstance(also, FaceBatch):
            raise InvalidArgumentError(f"also must be a FaceBatch, but got {type(also).__name__}")
        batches.append(dataclasses.replace(also, name=name))
    below = 0
    if wanted:
        faces, vecs = _unknowns.unknown_faces(gallery, wanted)
        ok = np.array([f.quality is None or f.quality >= min_quality for f in faces], bool)
        if not ok.any() and also is None:
            best = max(f.quality for f in faces)
            raise GalleryError(
                f"none of the {len(faces)} faces reaches the quality floor {min_quality:g} "
                f"(best {best:.3f}); pass a lower min_quality (--min-quality) to enroll them"
            )
        keep = [f for f, good in zip(faces, ok, strict=True) if good]
        below = int((~ok).sum())
        if keep:
            batches.append(
                FaceBatch(
                    name,
                    vecs[ok],
                    sources=[f.source for f in keep],
                    boxes=[f.box for f in keep],
                    detector=[f.detector for f in keep],
                    scores=[f.score for f in keep],
                )
            )
    new_person = name not in gallery
    ids = gallery.add_many(
        batches,
        inside=(lambda conn: _unknowns.delete_within(gallery, conn, wanted)) if wanted else None,
    )
    return NameResult(name, new_person, [i for part in ids for i in part], below)


def _group_checksum(face_id: int, grp: int) -> bytes:
    return integrity.checksum("unknown_groups", (face_id, grp))


def groups(gallery: Gallery) -> dict[int, int]:
    """``{face id: group}`` of the faces the user grouped by hand, each row checked.

    Raises:
        GalleryError: a damaged row.
    """
    _unknowns.require_table(gallery)
    with gallery.reader() as conn:
        rows = store.unknown_groups(conn, gallery.path)
    out = {}
    for fid, grp, digest in rows:
        if digest != _group_checksum(fid, grp):
            raise GalleryError(
                f"{gallery.path}: the grouping of unknown face {fid} is damaged (its checksum "
                "does not match)"
            )
        out[int(fid)] = int(grp)
    return out


def regroup(gallery: Gallery, face_ids) -> int:
    """Put these unknown faces into one new group of their own (merging proposals, or
    moving one face out of its proposal), in one transaction. Returns the group.

    Raises:
        GalleryError: an id that is not stored (nothing changes then).
    """
    wanted = _unknowns.checked_ids(face_ids)
    if not wanted:
        raise InvalidArgumentError("regrouping needs at least one unknown face id")
    _unknowns.require_table(gallery)
    with gallery.writer() as conn:
        with store.transaction(conn, gallery.path):
            present = store.present_ids(conn, "unknowns", wanted)
            missing = [i for i in wanted if i not in present]
            if missing:
                raise GalleryError(f"{gallery.path}: no unknown face with id {missing[0]}")
            grp = store.next_group(conn)
            store.set_groups(conn, [(fid, grp, _group_checksum(fid, grp)) for fid in wanted])
    return grp
