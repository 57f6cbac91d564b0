"""Photo discovery: which files count as photos and how person folders are walked."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.photos import is_photo, person_folders, photos_in


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jpg", True),
        ("a.JPEG", True),
        ("a.webp", True),
        ("a.jfif", True),
        ("a.txt", False),
        (".hidden.jpg", False),
        ("jpg", False),
    ],
)
def test_is_photo(name, expected):
    assert is_photo(Path("ada") / name) is expected


def test_person_folders_walk(tmp_path: Path):
    for rel in ["ada/1.jpg", "ada/sub/2.png", "ada/notes.txt", "ada/.x.jpg", "bob/readme.md"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "c.jpg").write_bytes(b"x")
    (tmp_path / "loose.jpg").write_bytes(b"x")
    ignored: list[str] = []
    found = [
        (f.name, [p.relative_to(f).as_posix() for p in ps])
        for f, ps in person_folders(tmp_path, ignored=ignored)
    ]
    assert found == [("ada", ["1.jpg", "sub/2.png"])]  # bob has no photo
    assert sorted(Path(p).name for p in ignored) == ["loose.jpg", "notes.txt", "readme.md"]
    assert photos_in(tmp_path / "missing") == []
