"""PeoplePanel driven by .click(): real LFW faces scanned into a fresh gallery's unknowns."""

from __future__ import annotations

import os

import numpy as np
import pytest

from workbench.gallery import Gallery
from workbench.ui.people import NO_UNKNOWNS, PeoplePanel


@pytest.fixture
def panel(people, recognizer, tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    for photos in people.values():
        for photo in photos:
            os.symlink(photo, archive / photo.name)
    with Gallery(tmp_path / "g.sqlite", model_id=recognizer.embedder.model_id) as g:
        g.scan_folder(archive, recognizer=recognizer, progress=False)
        yield PeoplePanel(g)


def _person(card):
    return os.path.basename(card.proposal.faces[0].source).rsplit("_", 1)[0]


def test_cards_show_the_proposals(panel, people):
    assert len(panel.cards) == len(people)
    assert sorted(_person(c) for c in panel.cards) == sorted(people)
    card = panel.cards[0]
    assert len(card.thumbs.children) == len(card.proposal.faces)
    assert card.thumbs.children[0].value[:2] == b"\xff\xd8"  # a JPEG thumbnail
    assert "proposed people" in panel.status.value


def test_name_a_card(panel):
    card = panel.cards[0]
    who = _person(card)
    card.name.value = who
    card.name_button.click()
    assert who in panel.gallery and len(panel.gallery.faces(who)) == len(card.proposal.faces)
    assert len(panel.cards) == 2 and "enrolled" in panel.status.value


def test_bad_name_is_shown_on_the_card(panel):
    card = panel.cards[0]
    card.name.value = "../escape"
    card.name_button.click()
    assert "InvalidNameError" in card.note.value and panel.last_error
    assert panel.gallery.people == [] and len(panel.cards) == 3


def test_merge_move_out_discard(panel):
    first = panel.cards[0]
    first.merge_target.value = panel.cards[1].proposal.id
    first.merge_button.click()
    assert len(panel.cards) == 2
    big = max(panel.cards, key=lambda c: len(c.proposal.faces))
    size = len(big.proposal.faces)
    big.move_button.click()
    assert max(len(c.proposal.faces) for c in panel.cards) == size - 1
    panel.cards[0].discard_button.click()
    assert "discarded" in panel.status.value


def test_empty_gallery(tmp_path):
    with Gallery(tmp_path / "g.sqlite", model_id="m") as g:
        p = PeoplePanel(g)
        assert p.cards == [] and "no unknown faces yet" in p.status.value
        assert NO_UNKNOWNS.startswith("no unknown faces")


def test_not_the_person_it_looks_like(tmp_path):
    """A proposal near an enrolled person: 'Not <name>' stores the correction."""
    import numpy as np

    rng = np.random.default_rng(0)
    ada = rng.standard_normal((3, 128)).astype(np.float32)
    ada = ada / np.linalg.norm(ada, axis=1, keepdims=True) * 0.05 + rng.standard_normal(128)
    ada = (ada / np.linalg.norm(ada, axis=1, keepdims=True) * 1.4).astype(np.float32)
    with Gallery(tmp_path / "g.sqlite", model_id="m") as g:
        g.add_embeddings("Ada", ada)
        g.set_threshold(0.3)
        step = rng.standard_normal(128).astype(np.float32)
        step *= 0.33 / np.linalg.norm(step)
        centre = ada.mean(0)
        g.add_unknowns(np.stack([centre + step, centre + step * 1.02]))
        p = PeoplePanel(g)
        [card] = p.cards
        assert card.proposal.near.name == "Ada" and card.not_button.description == "Not Ada"
        card.not_button.click()
        assert p.last_error is None, p.last_error
        corrections = g.negatives("Ada")  # one per face of the proposal
        assert [c.source for c in corrections] == [f"proposal {card.proposal.id}"] * 2
        assert "is not Ada" in p.status.value


def test_a_card_near_two_look_alikes_names_both(gallery, close_pair):
    """Unknown faces of one of two real close LFW people, which the margin cannot settle:
    the card says it looks like both, so the user names it knowing the two."""
    jong, kim = close_pair
    for person, (enrolled, _, _) in close_pair.items():
        gallery.add_embeddings(person, enrolled)
    probe = close_pair[jong][1]
    gallery.add_unknowns(np.concatenate([probe, probe]))
    [card] = PeoplePanel(gallery).cards
    assert f"looks like {kim} or {jong} (distance" in card.title.value
    card.name.value = jong
    card.name_button.click()
    assert len(gallery.faces(jong)) == 3 and gallery.count_unknowns() == 0


def test_the_readme_screenshot_gallery(tmp_path):
    """scripts/people_panel_screenshot.py's gallery (drawn faces, no photo) gives the
    panel the README shows: four proposals, two faces seen once, one "looks like Ada"."""
    import importlib.util

    from workbench.data import PROJECT_ROOT

    script = PROJECT_ROOT / "scripts" / "people_panel_screenshot.py"
    spec = importlib.util.spec_from_file_location("people_panel_screenshot", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build_gallery(tmp_path / "drawn.sqlite")
    with Gallery(tmp_path / "drawn.sqlite", model_id=None, create=False) as g:
        panel = PeoplePanel(g)
        assert [len(c.proposal.faces) for c in panel.cards] == list(module.FACES_EACH)
        assert "2 faces seen once" in panel.status.value
        near = [c.proposal.near.name for c in panel.cards if c.proposal.near is not None]
        assert near == ["Ada"]
        assert all(u.source.startswith("drawn/") for u in g.unknowns())
