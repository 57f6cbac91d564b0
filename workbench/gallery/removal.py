"""Removal as the user asks for it: the rows, the photos the workbench saved, and then the
bytes the store still keeps (one path for the CLI and every panel).

A removal's transaction deletes the rows (:meth:`Gallery.remove_person`,
:meth:`~Gallery.remove_face`, :meth:`~Gallery.remove_unknowns`). SQLite overwrites what
it frees (``secure_delete``) and keeps no journal, so the file is clean at commit.
PostgreSQL keeps a deleted row's bytes in the table files until the pages are reused
(measured, tests/gallery/test_gallery_pgstore.py): there :meth:`Gallery.purge`
(``VACUUM FULL``) runs after the removal, unless the caller says ``purge=False``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.gallery.core import Gallery


@dataclass(frozen=True)
class Removed:
    """One person removed.

    Attributes:
        name: who.
        faces: how many faces went.
        photos_deleted: the photos the workbench had saved for them that are gone now.
    """

    name: str
    faces: int
    photos_deleted: tuple[str, ...]


def purge_removed(gallery: Gallery, *, purge: bool = True) -> bool:
    """After removals: rewrite the store where a removal leaves the rows' bytes in its
    files (PostgreSQL); returns whether it did."""
    if not (purge and gallery.keeps_removed_bytes):
        return False
    gallery.purge()
    return True


def remove_people(
    gallery: Gallery, names: Iterable[str], *, purge: bool = True
) -> tuple[list[Removed], bool]:
    """Remove each person with their faces and the photos the workbench saved for them,
    then purge (see :func:`purge_removed`). Returns what went and whether it purged.

    Raises:
        GalleryError: no such person (the people before it stay removed; the store is
            purged of them first).
    """
    done: list[Removed] = []
    try:
        for name in names:
            saved = [p for p in gallery.stored_photos(name) if p.is_file()]
            faces = gallery.remove_person(name)
            deleted = tuple(str(p) for p in saved if not p.exists())
            done.append(Removed(name, faces, deleted))
    finally:
        purged = bool(done) and purge_removed(gallery, purge=purge)
    return done, purged


def remove_faces(gallery: Gallery, face_ids: Iterable[int], *, purge: bool = True) -> int:
    """Remove enrolled faces by id (each with the photo the workbench saved for it),
    then purge; returns how many.

    Raises:
        GalleryError: no such face (the faces before it stay removed, and are purged).
    """
    n = 0
    try:
        for face_id in face_ids:
            gallery.remove_face(int(face_id))
            n += 1
    finally:
        if n:
            purge_removed(gallery, purge=purge)
    return n


def remove_unknowns(gallery: Gallery, remove: Callable[[], int], *, purge: bool = True) -> int:
    """Run ``remove`` (a removal of unknown faces that returns how many went, e.g.
    ``lambda: gallery.discard_proposal(7)``; all or none), then purge if any went."""
    n = remove()
    if n:
        purge_removed(gallery, purge=purge)
    return n
