"""workbench/gallery/stores.py: the named store protocol core.py works through, and its
two implementations (the file, the database)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from gallery_fakes import MODEL, face_vector

from workbench.gallery import Gallery, core, pgstore, stores


def _members(cls) -> set[str]:
    return {n for n in vars(cls) if not n.startswith("_")}


def test_both_stores_implement_every_operation_of_the_protocol() -> None:
    wanted = _members(stores.GalleryStore) - {"location", "conn"}
    for cls in (stores.SqliteStore, stores.PgStore):
        have = {n for n in dir(cls) if not n.startswith("_")}
        assert wanted <= have, (cls.__name__, sorted(wanted - have))
        for name in wanted:  # same parameters as the protocol says
            want = getattr(stores.GalleryStore, name)
            if isinstance(want, property):
                assert isinstance(getattr(cls, name), property), (cls.__name__, name)
                continue
            params = list(inspect.signature(want).parameters)
            assert list(inspect.signature(getattr(cls, name)).parameters) == params, name


def test_an_open_gallery_holds_a_store_of_the_protocol(gallery_path) -> None:
    with Gallery(gallery_path, model_id=MODEL) as g:
        g.add_embeddings("Ada", face_vector(0, 0)[None])
        st = g._store  # noqa: SLF001
        assert isinstance(st, stores.GalleryStore)
        assert isinstance(
            st, stores.PgStore if pgstore.is_url(gallery_path) else stores.SqliteStore
        )
        assert st.people_counts()[0][:2] == ("Ada", 1) and not st.broken


def test_core_calls_no_store_function_only_the_protocol() -> None:
    """core.py reaches the SQL only through GalleryStore's methods: of the store modules
    it uses constants and types, never a function that takes a connection."""
    tree = ast.parse(Path(inspect.getfile(core)).read_text())
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "store"
    }
    assert used <= {"SCHEMA_VERSION", "FaceRecord", "now"}, sorted(used)
    assert not any(
        isinstance(n, ast.Attribute) and n.attr == "PgConnection" for n in ast.walk(tree)
    )
