"""What only the PostgreSQL store has: its connection errors, a database of another
application, other processes' changes seen through NOTIFY, and the SQL dialect. The rest
of tests/gallery runs against both stores (the ``gallery_path`` fixture)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from gallery_fakes import MODEL, face_vector, raw_sql

from workbench.errors import GalleryError
from workbench.gallery import Gallery, pgstore


def test_refused_connection_is_one_clear_line(pg_cluster) -> None:
    from workbench.testing.pgcluster import free_port

    url = f"postgresql://workbench@127.0.0.1:{free_port()}/gallery"
    with pytest.raises(GalleryError) as info:
        Gallery(url, model_id=MODEL)
    msg = str(info.value)
    assert "connection refused: is a PostgreSQL server running on 127.0.0.1:" in msg
    assert "\n" not in msg


def test_wrong_password_is_named_and_never_shown(pg_cluster, pg_url) -> None:
    import psycopg

    from workbench.testing.pgcluster import PASSWORD_USER

    with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {PASSWORD_USER}")
        admin.execute(f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD 'right'")
    url = f"postgresql://{PASSWORD_USER}:wrong-secret@127.0.0.1:{pg_cluster.port}/postgres"
    with pytest.raises(GalleryError, match="wrong user name or password") as info:
        Gallery(url, model_id=MODEL)
    assert "wrong-secret" not in str(info.value) and ":***@" in str(info.value)
    ok = f"postgresql://{PASSWORD_USER}:right@127.0.0.1:{pg_cluster.port}/postgres"
    with pytest.raises(GalleryError, match="no gallery here"):
        Gallery(ok, model_id=MODEL, create=False)  # authenticated; just no gallery


def test_missing_database_and_user_are_named(pg_cluster) -> None:
    with pytest.raises(GalleryError, match="there is no database 'nosuchdb'"):
        Gallery(pg_cluster.url("nosuchdb"), model_id=MODEL)
    url = f"postgresql://nobody@127.0.0.1:{pg_cluster.port}/postgres"
    with pytest.raises(GalleryError, match="no user 'nobody'"):
        Gallery(url, model_id=MODEL)


def test_database_of_another_application_is_refused(pg_url) -> None:
    raw_sql(pg_url, ("CREATE TABLE invoices (id BIGINT)",))
    with pytest.raises(GalleryError, match=r"expected a workbench gallery.*\['invoices'\]"):
        Gallery(pg_url, model_id=MODEL)


def test_an_older_schema_in_a_database_is_refused_saying_which(pg_url) -> None:
    Gallery(pg_url, model_id=MODEL).close()
    from workbench.gallery import integrity

    digest = integrity.checksum("meta", ("schema_version", "3"))
    raw_sql(
        pg_url,
        ("UPDATE meta SET value = '3', checksum = ? WHERE key = 'schema_version'", (digest,)),
    )
    with pytest.raises(GalleryError, match="schema version 3 in the database"):
        Gallery(pg_url, model_id=MODEL)


def test_two_processes_creating_at_once_share_one_gallery(pg_url) -> None:
    import threading

    errors, galleries = [], []

    def open_one() -> None:
        try:
            galleries.append(Gallery(pg_url, model_id=MODEL))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    galleries[0].add_embeddings("Ada", face_vector(0, 0)[None])
    assert all(g.people == ["Ada"] for g in galleries)
    for g in galleries:
        g.close()


def test_other_writers_are_seen_within_a_second_without_reopening(pg_url) -> None:
    """NOTIFY wakes the reader; between notifications a search asks nothing."""
    with Gallery(pg_url, model_id=MODEL) as reader, Gallery(pg_url, model_id=MODEL) as writer:
        assert reader.people == []
        for step, change in enumerate(
            [
                lambda: writer.add_embeddings("Ada", face_vector(0, 0)[None]),
                lambda: writer.rename("Ada", "Grace"),
                lambda: writer.remove_person("Grace"),
            ]
        ):
            change()
            want = [["Ada"], ["Grace"], []][step]
            deadline = time.monotonic() + 1.0
            while reader.people != want and time.monotonic() < deadline:
                time.sleep(0.005)
            assert reader.people == want, step
        # Own writes do not make the reader reload: the version moves by others only.
        version = reader._conn.data_version()  # noqa: SLF001
        reader.add_embeddings("Own", face_vector(1, 0)[None])
        assert reader._conn.data_version() == version  # noqa: SLF001
        assert writer.people == ["Own"] or time.sleep(0.5) or writer.people == ["Own"]


def test_ids_are_never_reused_after_removal(pg_url) -> None:
    with Gallery(pg_url, model_id=MODEL) as g:
        first = g.add_embeddings("Ada", np.stack([face_vector(0, 0), face_vector(0, 1)]))
        g.remove_person("Ada")
        again = g.add_embeddings("Ada", face_vector(0, 2)[None])
    assert again[0] > max(first)


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("SELECT 1 WHERE a = ?", "SELECT 1 WHERE a = %s"),
        ("x LIKE '5%'", "x LIKE '5%%'"),
        ("WHERE source IS ? AND t = ?", "WHERE source IS NOT DISTINCT FROM %s AND t = %s"),
        ("LIMIT -1 OFFSET ?", "LIMIT ALL OFFSET %s"),
        (
            "INSERT OR REPLACE INTO meta(key, value, checksum) VALUES (?, ?, ?)",
            "INSERT INTO meta(key, value, checksum) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, checksum = EXCLUDED.checksum",
        ),
    ],
)
def test_dialect(sqlite, postgres) -> None:
    assert pgstore.translate(sqlite) == postgres


def test_display_masks_the_password() -> None:
    assert pgstore.display("postgresql://u:s3cret@h:5/db") == "postgresql://u:***@h:5/db"
    assert pgstore.display("postgresql://u@h/db") == "postgresql://u@h/db"


def _cli(*args: str):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).parents[2])
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": root},
    )


def test_cli_refused_connection_exits_2_with_one_line(pg_cluster) -> None:
    from workbench.testing.pgcluster import free_port

    url = f"postgresql://workbench:secret@127.0.0.1:{free_port()}/gallery"
    proc = _cli("unknowns", "--gallery", url)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "connection refused" in lines[0], proc.stderr
    assert "secret" not in proc.stderr


def test_cli_reads_a_gallery_by_url(pg_url) -> None:
    with Gallery(pg_url, model_id=MODEL) as g:
        g.add_unknowns(np.stack([face_vector(0, 0), face_vector(0, 1)]), source="door.jpg")
    proc = _cli("unknowns", "--gallery", pg_url, "--json")
    assert proc.returncode == 0, proc.stderr
    import json

    assert json.loads(proc.stdout)["unknowns"] == 2


def test_server_stopped_and_back_searches_go_on_from_the_snapshot(pg_cluster) -> None:
    """The server goes away under an open gallery (a live loop's): searches keep naming
    from the last snapshot, the loss is reported once, and changes made after the server
    is back are seen without reopening."""
    from workbench.testing.pgcluster import start_cluster

    own = start_cluster()  # stopped and started by this test, not the session's
    try:
        url = own.create_database("g")
        with Gallery(url, model_id=MODEL) as g:
            g.add_embeddings("Ada", face_vector(0, 0)[None])
            assert g.store_problem is None
            own.stop(mode="fast")
            for _ in range(5):
                assert g.search(face_vector(0, 0)[None]).best()[0].name == "Ada"
            assert g.store_problem is not None and "connection" in g.store_problem
            assert g.store_outages == 1  # once, however many searches met it
            with pytest.raises(GalleryError, match="PostgreSQL server"):
                g.add_embeddings("Bob", face_vector(1, 0)[None])
            own.start()
            with Gallery(url, model_id=MODEL) as other:
                other.add_embeddings("Cy", face_vector(2, 0)[None])
            deadline = time.monotonic() + 5.0
            while "Cy" not in g.people and time.monotonic() < deadline:
                time.sleep(0.05)
            assert g.people == ["Ada", "Cy"] and g.store_problem is None
            assert g.store_outages == 1
            g.add_embeddings("Dee", face_vector(3, 0)[None])  # writes work again too
    finally:
        own.remove()


def test_purge_leaves_no_removed_bytes_in_the_table_files(pg_cluster, pg_url) -> None:
    """A plain DELETE (and VACUUM) leaves the row in the table's pages; purge rewrites the
    tables. The write-ahead log (pg_wal) is not searched: it keeps the row until its
    segment is recycled (docs/SCALING.md says so)."""
    import os

    # Other tests' schemas share the server's files: this test's name, photo path and
    # vector must be its own.
    token = os.urandom(4).hex()
    secret, vector = f"Zebediah Quux {token}", face_vector(42, int(token, 16))
    source = f"/photos/zebediah-{token}.jpg"
    in_tables = pg_cluster.files_hold

    if not os.access(pg_cluster.datadir, os.R_OK):
        pytest.skip("the server's data folder is not readable here")
    with Gallery(pg_url, model_id=MODEL) as g:
        g.add_embeddings("Ada", face_vector(0, 0)[None])
        g.add_embeddings(secret, vector[None], sources=[source])
        raw_sql(pg_url, ("CHECKPOINT",))  # the pages reach the table files
        assert in_tables(vector.tobytes()[:64]) and in_tables(secret.encode())
        g.remove_person(secret)
        raw_sql(pg_url, ("CHECKPOINT",))
        assert in_tables(secret.encode()), "DELETE alone was expected to leave the bytes"
        g.purge()
        assert not in_tables(secret.encode()) and not in_tables(source.encode())
        assert not in_tables(vector.tobytes()[:64])
        assert g.people == ["Ada"]


def test_purge_on_a_file(tmp_path) -> None:
    path = tmp_path / "g.sqlite"
    with Gallery(path, model_id=MODEL) as g:
        g.add_embeddings("Ada", face_vector(0, 0)[None])
        g.purge()
        assert g.people == ["Ada"]


def test_cli_remove_purges_a_database_gallery(pg_url) -> None:
    with Gallery(pg_url, model_id=MODEL) as g:
        g.add_embeddings("Ada", face_vector(0, 0)[None])
        g.add_embeddings("Zeb", face_vector(1, 0)[None])
    proc = _cli("remove", "Zeb", "--gallery", pg_url)
    assert proc.returncode == 0, proc.stderr
    assert "purged" in proc.stdout and "1 people, 1 faces" in proc.stdout
    proc = _cli("remove", "Ada", "--gallery", pg_url, "--no-purge")
    assert proc.returncode == 0 and "purged" not in proc.stdout
