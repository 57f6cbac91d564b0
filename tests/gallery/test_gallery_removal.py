"""workbench/gallery/removal.py: the one removal path of the CLI and the panels, on both
stores; on PostgreSQL the removed rows' bytes must be gone from the table files."""

from __future__ import annotations

import hashlib

import pytest
from gallery_fakes import MODEL, face_vector, raw_sql

from workbench.errors import GalleryError
from workbench.gallery import FaceBatch, Gallery, pgstore
from workbench.gallery.removal import remove_faces, remove_people, remove_unknowns


def test_remove_people_purges_where_the_store_keeps_bytes(gallery_path, tmp_path) -> None:
    photo = tmp_path / "photos" / "Zeb" / "1.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"not a real jpeg, only its sha256 matters")
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    with Gallery(gallery_path, model_id=MODEL) as g:
        g.add_embeddings("Ada", face_vector(0, 0)[None])
        zeb = FaceBatch("Zeb", face_vector(1, 0)[None], [str(photo)], [sha], saved=[True])
        g.add_many([zeb])
        removed, purged = remove_people(g, ["Zeb"])
        assert [(r.name, r.faces) for r in removed] == [("Zeb", 1)]
        assert removed[0].photos_deleted == (str(photo),) and not photo.exists()
        assert purged is pgstore.is_url(gallery_path) is g.keeps_removed_bytes
        assert g.people == ["Ada"]
        with pytest.raises(GalleryError, match="no person named 'Nobody'"):
            remove_people(g, ["Nobody"])


def test_remove_faces_and_unknowns(gallery_path) -> None:
    with Gallery(gallery_path, model_id=MODEL) as g:
        ids = g.add_embeddings("Ada", face_vector(0, 0)[None].repeat(3, 0))
        assert remove_faces(g, ids[:2]) == 2 and len(g) == 1
        with pytest.raises(GalleryError, match="no face with id"):
            remove_faces(g, [ids[2], 10**9])
        assert len(g) == 0  # the first went before the error
        g.add_unknowns(face_vector(5, 0)[None].repeat(2, 0))
        assert remove_unknowns(g, g.remove_unknowns) == 2 and g.count_unknowns() == 0


def test_purge_after_removal_leaves_no_bytes_in_the_table_files(pg_cluster, pg_url) -> None:
    import os

    if not os.access(pg_cluster.datadir, os.R_OK):
        pytest.skip("the server's data folder is not readable here")
    token = os.urandom(4).hex()  # other tests' schemas share the server's files
    secret, vector = f"Quentin Zorblax {token}", face_vector(43, int(token, 16))
    with Gallery(pg_url, model_id=MODEL) as g:
        g.add_embeddings("Ada", face_vector(0, 0)[None])
        g.add_embeddings(secret, vector[None])
        raw_sql(pg_url, ("CHECKPOINT",))
        assert pg_cluster.files_hold(secret.encode())
        remove_people(g, [secret])
        raw_sql(pg_url, ("CHECKPOINT",))
        assert not pg_cluster.files_hold(secret.encode())
        assert not pg_cluster.files_hold(vector.tobytes()[:64])
