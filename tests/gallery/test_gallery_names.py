"""Person names: what is refused and the normal form of what is accepted."""

from __future__ import annotations

import pytest

from workbench.errors import GalleryError, InvalidNameError
from workbench.gallery import validate_name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a/b", "separator"),
        ("a\\b", "separator"),
        ("..", "'..'"),
        (".", "'..'"),
        ("a..b", "'..'"),
        ("../etc", "separator"),
        ("x\x00y", "control"),
        ("x\ny", "control"),
        ("tab\tname", "control"),
        ("evil\u202ename", "control"),  # right-to-left override
        ("del\x7f", "control"),
        ("x" * 201, "at most"),
        ("\U0001f642" * 64, "fit in a folder name"),  # 64 chars, 256 UTF-8 bytes
        ("\U0001f642" * 200, "fit in a folder name"),  # the probe: mkdir failed
        ("\u00e9" * 128, "fit in a folder name"),  # 128 chars, 256 UTF-8 bytes
        ("unknown", "reserved"),
        ("Unknown", "reserved"),
        ("  UNKNOWN ", "reserved"),
        ("CON", "device name"),
        ("nul", "device name"),
        ("NUL.txt", "device name"),
        ("com1", "device name"),
        ("LPT9.jpg", "device name"),
        ("COM\u00b9", "device name"),
        ("Aux .tar", "device name"),
        ("a:b", "any of"),
        ("*", "any of"),
        ("<>|", "any of"),
        ('say "hi"', "any of"),
        ("why?", "any of"),
        ("trailing.", "end with '.'"),
        ("Smith Jr.", "end with '.'"),
        ("bad\ud800half", "surrogate"),
        ("\udcff", "surrogate"),
        (5, "must be a str"),
        (None, "must be a str"),
    ],
)
def test_bad_names_are_refused(name, why) -> None:
    with pytest.raises(InvalidNameError, match=why):
        validate_name(name)


def test_invalid_name_error_is_a_value_and_gallery_error() -> None:
    with pytest.raises(ValueError):
        validate_name("")
    with pytest.raises(GalleryError):
        validate_name("")


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("Ada Lovelace", "Ada Lovelace"),
        ("  Zoë ", "Zoë"),
        ("Jose\u0301", "Jos\u00e9"),  # combining accent -> NFC precomposed
        ("李小龙", "李小龙"),
        ("Ольга", "Ольга"),
        ("O'Brien-Smith Jr", "O'Brien-Smith Jr"),
        ("St. John", "St. John"),
        ("Conrad", "Conrad"),  # starts like CON, is not a device name
        ("CON-Man", "CON-Man"),
        ("COM10", "COM10"),
        ("unknown soldier", "unknown soldier"),
        ("\U0001f642" * 63, "\U0001f642" * 63),  # 252 bytes: fits
        ("a" * 200, "a" * 200),
        ("🙂 emoji", "🙂 emoji"),
    ],
)
def test_unicode_names_are_nfc(name, stored) -> None:
    assert validate_name(name) == stored


def test_gallery_uses_the_normal_form(gallery) -> None:
    import numpy as np

    gallery.add_embeddings("Jose\u0301", np.full((1, 128), 0.1, np.float32))
    gallery.add_embeddings("Jos\u00e9", np.full((1, 128), -0.1, np.float32))
    assert gallery.people == ["José"]
    assert gallery.list_people()[0].faces == 2
    assert "Jose\u0301" in gallery


def test_gallery_refuses_bad_name_before_writing(gallery) -> None:
    import numpy as np

    with pytest.raises(InvalidNameError):
        gallery.add_embeddings("a/b", np.full((1, 128), 0.1, np.float32))
    assert gallery.people == [] and len(gallery) == 0


@pytest.mark.parametrize("name", ["a:b", "CON", "trailing.", "\U0001f642" * 70, "unknown"])
def test_every_accepted_name_makes_a_folder(tmp_path, name) -> None:
    """The rule's promise, checked on this machine: accepted names mkdir, refused ones
    are refused before any folder is made."""
    with pytest.raises(InvalidNameError):
        validate_name(name)
    for ok in ["Zoë", "\U0001f642" * 63, "\u00e9" * 127, "St. John", "a" * 200]:
        (tmp_path / validate_name(ok)).mkdir()


def test_names_stored_by_older_rules_can_still_be_removed(gallery_path) -> None:
    """A gallery made before the rules grew may hold 'CON' or 'a:b': rename and remove
    must still reach them."""

    import numpy as np
    from gallery_fakes import MODEL, raw_sql

    from workbench.gallery import Gallery, store

    with Gallery(gallery_path, model_id=MODEL) as g:
        g.add_embeddings("placeholder", np.full((1, 128), 0.1, np.float32))
        g.add_embeddings("other", np.full((1, 128), -0.1, np.float32))
    for pid, old in [(1, "CON"), (2, "a:b")]:
        [[(created,)]] = raw_sql(gallery_path, ("SELECT created FROM people WHERE id = ?", (pid,)))
        raw_sql(
            gallery_path,
            (
                "UPDATE people SET name = ?, checksum = ? WHERE id = ?",
                (old, store.person_checksum(pid, old, created), pid),
            ),
        )
    with Gallery(gallery_path, model_id=MODEL) as g:
        assert g.people == ["CON", "a:b"]
        g.rename("CON", "Connie")
        assert g.remove_person("a:b") == 1
        assert g.people == ["Connie"]


def test_names_that_differ_only_by_case_are_one_folder(gallery, tmp_path) -> None:
    """ "Ada" and "ada" would share reference_images/Ada/ on macOS and Windows: a new
    person whose name differs from an enrolled one only by case is refused (decided in
    the write transaction), and enroll_folder lists such a folder as refused."""
    import numpy as np
    from gallery_fakes import FakeRecognizer, write_photo

    v = np.full((1, 128), 0.1, np.float32)
    gallery.add_embeddings("Ada", v)
    for clash in ["ada", "ADA", "A\u0044a"]:
        with pytest.raises(InvalidNameError, match="only by case"):
            gallery.add_embeddings(clash, v)
    gallery.add_embeddings("Zoë", -v)
    with pytest.raises(InvalidNameError, match="only by case"):
        gallery.add_embeddings("ZOË", v)
    with pytest.raises(InvalidNameError, match="only by case"):
        gallery.rename("Zoë", "aDa")
    gallery.rename("Ada", "ADA")  # the same person's own spelling may change
    assert gallery.people == ["ADA", "Zoë"] and len(gallery) == 2

    write_photo(tmp_path / "ada" / "1.png", 1, 1)
    write_photo(tmp_path / "Bob" / "1.png", 2, 1)
    write_photo(tmp_path / "bob" / "1.png", 3, 1)
    summary = gallery.enroll_folder(tmp_path, recognizer=FakeRecognizer(), progress=False)
    assert summary.people == ["Bob"]
    assert sorted(n for n, _ in summary.invalid_names) == ["ada", "bob"]
    assert gallery.people == ["ADA", "Zoë", "Bob"]


def test_case_clash_is_seen_through_the_kept_folder_keys_and_another_connection(
    gallery_path,
) -> None:
    """The folder keys are kept between writes of one gallery (extended as people are
    added, refolded after a rename or removal) and read from the store when another
    connection wrote since: each way a clash is refused and a freed name is free."""
    import numpy as np
    from gallery_fakes import MODEL

    from workbench.gallery import Gallery

    v = np.full((1, 128), 0.1, np.float32)
    with Gallery(gallery_path, model_id=MODEL) as a, Gallery(gallery_path, model_id=MODEL) as b:
        a.add_embeddings("Ada", v)
        a.add_embeddings("Bob", -v)  # kept keys extended
        with pytest.raises(InvalidNameError, match="only by case"):
            a.add_embeddings("BOB", v)
        with pytest.raises(InvalidNameError, match="only by case"):
            b.add_embeddings("ada", v)  # b is stale: the store's names
        b.rename("Bob", "Cy")
        with pytest.raises(InvalidNameError, match="only by case"):
            a.add_embeddings("cy", v)  # a is stale now
        a.add_embeddings("bob", v)  # free again after the rename
        a.remove_person("Ada")
        a.add_embeddings("ADA", v)  # free after the removal (keys refolded)
        assert sorted(a.people) == ["ADA", "Cy", "bob"]
