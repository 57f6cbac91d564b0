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
        ("O'Brien-Smith Jr.", "O'Brien-Smith Jr."),
        ("🙂 emoji", "🙂 emoji"),
    ],
)
def test_unicode_names_are_nfc(name, stored) -> None:
    assert validate_name(name) == stored


def test_gallery_uses_the_normal_form(gallery) -> None:
    import numpy as np

    gallery.add_embeddings("Jose\u0301", np.ones((1, 128), np.float32))
    gallery.add_embeddings("Jos\u00e9", np.zeros((1, 128), np.float32))
    assert gallery.people == ["José"]
    assert gallery.list_people()[0].faces == 2
    assert "Jose\u0301" in gallery


def test_gallery_refuses_bad_name_before_writing(gallery) -> None:
    import numpy as np

    with pytest.raises(InvalidNameError):
        gallery.add_embeddings("a/b", np.ones((1, 128), np.float32))
    assert gallery.people == [] and len(gallery) == 0
