"""Folders enrollment cannot read: a person folder without permission is reported (os.walk
would skip it without a word), a reference folder that cannot be listed is a clean error."""

from __future__ import annotations

import json

DENIED = "permission denied (the file, or a folder on its path, is not readable)"


def test_unreadable_folders_are_reported_not_skipped(tmp_path, run_python_without_root):
    root = tmp_path / "ref"
    code = f"""
import json
from pathlib import Path
from gallery_fakes import MODEL, FakeRecognizer, write_photo
from workbench.gallery import Gallery

root = Path({str(root)!r})
write_photo(root / "Ada" / "a.png", 1, 0)
write_photo(root / "Bob" / "b.png", 2, 0)
write_photo(root / "Bob" / "old" / "c.png", 2, 1)
(root / "Bob" / "old").chmod(0o000)
try:
    with Gallery(root.parent / "g.sqlite", model_id=MODEL) as gallery:
        summary = gallery.enroll_folder(root, recognizer=FakeRecognizer(), progress=False)
finally:
    (root / "Bob" / "old").chmod(0o755)
print(json.dumps({{"enrolled": summary.enrolled, "unlisted": summary.unlisted_folders,
                  "text": str(summary)}}))
"""
    proc = run_python_without_root(code)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [s for _, s in out["enrolled"]] == [
        str(root / "Ada" / "a.png"),
        str(root / "Bob" / "b.png"),
    ]
    assert out["unlisted"] == [
        [
            str(root / "Bob" / "old"),
            DENIED,
        ]
    ]
    assert "folders that could not be listed: 1" in out["text"]


def test_a_reference_folder_that_cannot_be_listed(tmp_path, run_python_without_root):
    root = tmp_path / "ref"
    code = f"""
from pathlib import Path
from gallery_fakes import MODEL, FakeRecognizer
from workbench.errors import InvalidArgumentError
from workbench.gallery import Gallery

root = Path({str(root)!r})
root.mkdir()
root.chmod(0o300)  # can enter, cannot list
try:
    with Gallery(root.parent / "g.sqlite", model_id=MODEL) as gallery:
        gallery.enroll_folder(root, recognizer=FakeRecognizer(), progress=False)
except InvalidArgumentError as exc:
    print(exc)
finally:
    root.chmod(0o755)
"""
    proc = run_python_without_root(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"cannot list {root}: {DENIED}"
