"""Enrollment from photos and folders, with a fake recognizer."""

from __future__ import annotations

import numpy as np
import pytest
from gallery_fakes import (
    BatchingFakeRecognizer,
    FakeRecognizer,
    face_vector,
    photo_array,
    photo_bytes,
    write_photo,
)

from workbench.errors import GalleryError, InvalidArgumentError, InvalidNameError
from workbench.faces import FaceDetections
from workbench.gallery import EnrollSummary


def test_enroll_photos_of_every_kind(gallery, recognizer, tmp_path) -> None:
    from PIL import Image

    path = write_photo(tmp_path / "ada.png", person=1, variant=0)
    summary = gallery.enroll(
        "Ada",
        [
            path,
            str(path.with_name("ada.png")),
            photo_bytes(1, 1),
            photo_array(1, 2),
            Image.fromarray(photo_array(1, 3)),
        ],
        recognizer=recognizer,
    )
    # The same file twice: the second is a duplicate.
    assert len(summary.enrolled) == 4 and len(summary.duplicates) == 1
    assert summary.people == ["Ada"]
    faces = gallery.faces("Ada")
    assert [f.source for f in faces] == [str(path), None, None, None]
    assert all(f.detector == "fake" and f.sha256 and len(f.sha256) == 64 for f in faces)
    vectors, _ = gallery.embeddings()
    np.testing.assert_allclose(vectors[0], face_vector(1, 0))
    assert gallery.search(face_vector(1, 9)).best()[0].label == "Ada"


def test_enroll_single_image_and_nothing_found(gallery, recognizer) -> None:
    summary = gallery.enroll("Bob", photo_array(2, 0), recognizer=recognizer)
    assert len(summary.enrolled) == 1
    summary = gallery.enroll("Carol", [photo_array(3, 0, faces=0)], recognizer=recognizer)
    assert summary.no_face == ["<image 0>"] and not summary.enrolled
    assert gallery.people == ["Bob"]  # nobody is created without a face


def test_enroll_bad_name_reads_nothing(gallery, recognizer) -> None:
    with pytest.raises(InvalidNameError):
        gallery.enroll("../x", [photo_array(1)], recognizer=recognizer)
    assert recognizer.embed_calls == 0


def test_enroll_other_model_is_refused(gallery) -> None:
    with pytest.raises(GalleryError, match="'fake-model-v1'.*'another'"):
        gallery.enroll("Ada", [photo_array(1)], recognizer=FakeRecognizer("another"))


@pytest.mark.parametrize(("policy", "enrolled"), [("largest", 1), ("skip", 0)])
def test_several_faces_policy(gallery, recognizer, policy, enrolled) -> None:
    summary = gallery.enroll(
        "Ada", [photo_array(1, 0, faces=3)], recognizer=recognizer, multiple_faces=policy
    )
    assert summary.several_faces == [("<image 0>", 3)] and summary.policy == policy
    assert len(summary.enrolled) == enrolled
    if enrolled:
        rec = gallery.faces("Ada")[0]
        assert rec.box == (0.0, 0.0, 8.0, 8.0)  # the largest of sides 4, 6, 8
        np.testing.assert_allclose(gallery.embeddings()[0][0], face_vector(1, 200))


def test_ask_policy_hands_back_group_photos_and_detected_photos_are_not_detected_again(
    gallery, recognizer, monkeypatch
) -> None:
    from workbench.gallery import DetectedPhoto

    group = photo_array(1, 0, faces=3)
    summary = gallery.enroll(
        "Ada", [group, photo_array(1, 1)], recognizer=recognizer, multiple_faces="ask"
    )
    assert summary.several_faces == [("<image 0>", 3)] and summary.photos_seen == 2
    assert len(summary.enrolled) == 1  # the one-face photo; the group waits
    [(person, held)] = summary.to_pick
    assert person == "Ada" and held.photo is group and len(held.detections) == 3

    def no_detect(_image):
        raise AssertionError("detected again")

    monkeypatch.setattr(recognizer, "detect", no_detect)
    picked = DetectedPhoto(held.photo, held.detections, face=0)  # the smallest face
    summary = gallery.enroll("Ada", [picked], recognizer=recognizer)
    assert len(summary.enrolled) == 1 and not summary.several_faces
    assert gallery.faces("Ada")[-1].box == (0.0, 0.0, 4.0, 4.0)
    np.testing.assert_allclose(gallery.embeddings()[0][-1], face_vector(1, 0))
    # A pick given to enroll() applies to a DetectedPhoto without its own.
    summary = gallery.enroll(
        "Bea",
        DetectedPhoto(photo_array(2, 0, faces=2), held.detections[:2]),
        recognizer=recognizer,
        face=1,
    )
    assert gallery.faces("Bea")[0].box == (0.0, 0.0, 6.0, 6.0)
    with pytest.raises(InvalidArgumentError, match="out of range"):
        fresh = DetectedPhoto(photo_array(1, 5, faces=3), held.detections, face=7)
        gallery.enroll("Bea", fresh, recognizer=recognizer)


def test_unknown_policy(gallery, recognizer) -> None:
    with pytest.raises(InvalidArgumentError, match="multiple_faces must be one of"):
        gallery.enroll("Ada", [photo_array(1)], recognizer=recognizer, multiple_faces="all")


def _reference_folder(root):
    write_photo(root / "Ada" / "a1.png", 1, 0)
    write_photo(root / "Ada" / "2019" / "holiday" / "a2.png", 1, 1)  # nested
    write_photo(root / "Ada" / "a3.PNG", 1, 2, faces=2)  # two faces, upper-case ending
    (root / "Ada" / "copy.png").write_bytes((root / "Ada" / "a1.png").read_bytes())
    write_photo(root / "Zoë" / "z1.png", 2, 0)
    write_photo(root / "Zoë" / "empty.png", 2, 1, faces=0)
    (root / "Zoë" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (root / "Zoë" / "notes.txt").write_text("not a photo")
    (root / "Zoë" / ".DS_Store").write_bytes(b"\0")
    write_photo(root / "bad\x01name" / "x.png", 3, 0)
    write_photo(root / "stray.png", 4, 0)
    (root / "gallery.sqlite").write_bytes(b"")


def test_enroll_folder(gallery, recognizer, tmp_path) -> None:
    root = tmp_path / "reference_images"
    _reference_folder(root)
    summary = gallery.enroll_folder(root, recognizer=recognizer, progress=False)
    assert isinstance(summary, EnrollSummary)
    assert sorted(summary.people) == ["Ada", "Zoë"]
    assert len(summary.enrolled) == 4  # a1, a2, a3 (largest face), z1
    assert [s for s, _ in summary.duplicates] == [str(root / "Ada" / "copy.png")]
    assert summary.several_faces == [(str(root / "Ada" / "a3.PNG"), 2)]
    assert summary.no_face == [str(root / "Zoë" / "empty.png")]
    assert [s for s, _ in summary.unreadable] == [str(root / "Zoë" / "broken.jpg")]
    assert summary.unreadable[0][1].startswith("broken.jpg: not an image")
    assert [f for f, _ in summary.invalid_names] == [str(root / "bad\x01name")]
    assert str(root / "stray.png") in summary.ignored
    assert str(root / "Zoë" / "notes.txt") in summary.ignored
    assert summary.photos_seen == 7
    text = str(summary)
    assert "enrolled 4 faces of 2 people" in text and "unreadable: 1" in text
    assert {p.name: p.faces for p in gallery.list_people()} == {"Ada": 3, "Zoë": 1}

    # A second run finds everything enrolled already.
    again = gallery.enroll_folder(root, recognizer=recognizer, progress=False)
    assert not again.enrolled and len(again.duplicates) == 5
    assert len(gallery) == 4


def test_enroll_folder_with_progress_bar(gallery, recognizer, tmp_path, capsys) -> None:
    write_photo(tmp_path / "ref" / "Ada" / "a.png", 1, 0)
    summary = gallery.enroll_folder(tmp_path / "ref", recognizer=recognizer, progress=True)
    assert len(summary.enrolled) == 1
    assert "photo" in capsys.readouterr().err  # tqdm writes to stderr in a terminal


def test_enroll_folder_not_a_folder(gallery, recognizer, tmp_path) -> None:
    with pytest.raises(InvalidArgumentError, match="not a folder"):
        gallery.enroll_folder(tmp_path / "missing", recognizer=recognizer)


def test_enroll_folder_unreadable_file(gallery, recognizer, tmp_path) -> None:
    write_photo(tmp_path / "ref" / "Ada" / "a.png", 1, 0)
    (tmp_path / "ref" / "Ada" / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    summary = gallery.enroll_folder(tmp_path / "ref", recognizer=recognizer, progress=False)
    assert len(summary.enrolled) == 1
    [(source, reason)] = summary.unreadable
    assert source.endswith("gone.jpg") and "broken symbolic link" in reason


def test_other_faces_below_the_size_gate_are_not_kept(gallery) -> None:
    """The other faces of a group photo go to the unknowns unless the recognizer's size
    gate (``too_small``, what keeps them from being named) refuses them."""
    from workbench.pipeline import too_small

    class Gated(BatchingFakeRecognizer):
        def too_small(self, detections):
            return too_small(detections.xyxy, 5.0)  # faces of side 4 are too small

    # Four faces of sides 4, 6, 8, 10: the largest enrolled, the side-4 one refused.
    summary = gallery.enroll("Ada", [photo_array(1, 0, faces=4)], recognizer=Gated())
    assert len(summary.enrolled) == 1 and summary.unknowns_kept == 2
    assert sorted(u.box[2] for u in gallery.unknowns()) == [6.0, 8.0]


def test_enroll_folder_batches_across_people(gallery, tmp_path) -> None:
    root = tmp_path / "ref"
    for p in range(7):
        for v in range(3):
            write_photo(root / f"person {p}" / f"{v}.png", p, v, faces=1 + (v == 2))
    rec = BatchingFakeRecognizer()
    summary = gallery.enroll_folder(root, recognizer=rec, progress=False, batch_size=8)
    assert len(summary.enrolled) == 21 and rec.embed_calls == 0
    # Whole people, flushed past 8 faces; each batch also embeds the other face of each
    # person's two-face photo (kept as an unknown).
    assert rec.embedder.batches == [12, 12, 4]
    assert summary.unknowns_kept == 7 and gallery.count_unknowns() == 7
    assert summary.enrolled[:2] == [("person 0", str(root / "person 0" / "0.png"))] + [
        ("person 0", str(root / "person 0" / "1.png"))
    ]
    vectors, owners = gallery.embeddings()
    # Same vectors as the photo-by-photo path would give (largest face of 2.png: i = 1).
    np.testing.assert_allclose(vectors[2], face_vector(0, 102))
    np.testing.assert_allclose(vectors[4], face_vector(1, 1))
    assert owners[4] == "person 1"
    assert gallery.search(face_vector(5, 1)).best()[0].label == "person 5"


def test_enroll_batches_one_person(gallery) -> None:
    rec = BatchingFakeRecognizer()
    photos = [photo_array(3, v) for v in range(5)] + [photo_array(3, 9, faces=0)]
    summary = gallery.enroll("Ada", photos, recognizer=rec)
    assert rec.embedder.batches == [5] and len(summary.enrolled) == 5 and summary.no_face
    np.testing.assert_allclose(gallery.embeddings()[0], [face_vector(3, v) for v in range(5)])


def test_enroll_saves_photos_given_as_bytes(gallery, recognizer, tmp_path) -> None:
    """The panels' path: bytes are kept under save_photos/<name>/ and become the source;
    the summary lists the new face ids; the same bytes again are a duplicate."""
    from workbench.gallery.enroll import enroll

    data = [photo_bytes(1, 0), photo_bytes(1, 1)]
    summary = enroll(gallery, "Ada", data, recognizer=recognizer, save_photos=tmp_path / "kept")
    saved = sorted((tmp_path / "kept" / "Ada").iterdir())
    assert sorted(p.read_bytes() for p in saved) == sorted(data)
    assert all(p.suffix == ".png" for p in saved)
    faces = gallery.faces("Ada")
    assert summary.face_ids == [f.id for f in faces]
    assert sorted(f.source for f in faces) == [str(p) for p in saved]
    assert [label for _, label in summary.enrolled] == [f.source for f in faces]
    again = enroll(gallery, "Ada", data[:1], recognizer=recognizer, save_photos=tmp_path / "kept")
    assert not again.face_ids and again.duplicates == [("<image 0>", "Ada")]
    assert len(list((tmp_path / "kept" / "Ada").iterdir())) == 2


class AugmentingFakeRecognizer(BatchingFakeRecognizer):
    """Three chips per enrolled face (as ``Recognizer.enrollment_chips`` with augmentation):
    the face's own chip and two with the variant moved by 10 and 20."""

    def enrollment_chips(self, image: np.ndarray, detections: FaceDetections) -> np.ndarray:
        base = self.chips(image, detections)
        out = np.repeat(base[:, None], 3, axis=1)
        out[:, 1, 0, 0, 2] += 10
        out[:, 2, 0, 0, 2] += 20
        return out


def test_enroll_averages_each_faces_augmented_chips(gallery, tmp_path) -> None:
    root = tmp_path / "ref"
    for p in range(3):
        for v in range(2):
            write_photo(root / f"person {p}" / f"{v}.png", p, v, faces=1 + v)
    rec = AugmentingFakeRecognizer()
    summary = gallery.enroll_folder(root, recognizer=rec, progress=False, batch_size=100)
    # 6 enrolled faces x 3 chips, plus the other face of each two-face photo (one chip).
    assert rec.embedder.batches == [6 * 3 + 3]
    assert len(summary.enrolled) == 6 and summary.unknowns_kept == 3
    vectors, owners = gallery.embeddings()
    for row, (p, v) in enumerate((p, v) for p in range(3) for v in range(2)):
        # The largest face of photo v is face v: the fake's variant is v + 100 v.
        face = v + 100 * v
        expected = np.mean([face_vector(p, face + d) for d in (0, 10, 20)], axis=0)
        np.testing.assert_allclose(vectors[row], expected, atol=1e-6)
        assert owners[row] == f"person {p}"


class TurningFakeRecognizer(FakeRecognizer):
    """Tells each photo's yaw from a table, as the real recognizer's face mesh does."""

    def __init__(self, yaws) -> None:
        super().__init__()
        self.yaws = list(yaws)

    def yaw(self, image, detections):
        return np.array([self.yaws.pop(0)], np.float32)


def test_enrollment_counts_views_and_asks_for_the_missing_ones(gallery) -> None:
    rec = TurningFakeRecognizer([2.0, -8.0, -31.0, float("nan")])
    summary = gallery.enroll("Ada", [photo_array(1, v) for v in range(4)], recognizer=rec)
    assert summary.yaws == [2.0, -8.0, -31.0, None]
    assert summary.views() == {"Ada": {"frontal": 2, "turned left": 1, "turned right": 0}}
    assert summary.view_hints() == [
        "Ada: 2 frontal, 1 turned left; add a photo turned right so Ada is named when turned away"
    ]
    assert "views: Ada: 2 frontal" in str(summary)
    rec = TurningFakeRecognizer([0.0, 20.0, -20.0])
    summary = gallery.enroll("Bea", [photo_array(2, v) for v in range(3)], recognizer=rec)
    assert summary.views()["Bea"] == {"frontal": 1, "turned left": 1, "turned right": 1}
    assert summary.view_hints() == [] and "views:" not in str(summary)


def test_a_recognizer_without_a_mesh_gives_no_views(gallery, recognizer) -> None:
    summary = gallery.enroll("Ada", [photo_array(1, 0)], recognizer=recognizer)
    assert summary.yaws == [None] and summary.views() == {} and summary.view_hints() == []
