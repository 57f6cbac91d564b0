"""EnrollPanel without a browser: set values, click, check the gallery and the widgets."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import InvalidArgumentError
from workbench.ui import EnrollPanel


@pytest.fixture
def panel(gallery, recognizer, tmp_path: Path):
    return EnrollPanel(gallery, recognizer, photos_dir=tmp_path / "photos", camera=False)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("Ada Lovelace", "ok"),
        ("Zoë", "ok"),
        ("a/b", "path separator"),
        ("..", "must not be or contain"),
        ("tab\there", "control characters"),
    ],
)
def test_name_field_explains_what_is_wrong(panel, typed, message):
    panel.name.value = typed
    assert message in panel.name_message.value
    assert panel.enroll_button.disabled  # nothing to enroll yet, whatever the name


def test_upload_name_enroll_rename_remove(panel, gallery, people, uploaded, tmp_path):
    name, photos = next(iter(people.items()))
    panel.upload.value = tuple(uploaded(p) for p in photos)
    assert panel.errors.last is None
    assert panel.upload.value == ()  # cleared for the next upload
    assert len(panel.pending) == 3 and all(p.usable for p in panel.pending)
    assert "3 photo(s) ready" in panel.pending_label.value
    assert "good" in panel.quality.value and panel.preview.value

    panel.name.value = "Ada"
    assert not panel.enroll_button.disabled
    panel.enroll_button.click()
    assert panel.errors.last is None, panel.errors.last
    assert gallery.people == ["Ada"] and len(gallery) == 3
    assert len(list((tmp_path / "photos" / "Ada").glob("*.jpg"))) == 3
    assert "Ada" in panel.rows and panel.rows["Ada"]["thumbnail"].value
    assert "3 face(s)" in panel.rows["Ada"]["row"].children[1].value
    # Enrollment re-derived the threshold; the panel shows it with its source.
    assert f"{gallery.threshold:.3f}" in panel.threshold_label.value
    assert "prior for 1 person" in panel.threshold_label.value

    # The same photos again are duplicates: refused with a reason in the panel.
    panel.upload.value = tuple(uploaded(p) for p in photos)
    panel.name.value = "Ada"  # the form was reset by the enrollment
    panel.enroll_button.click()
    assert "enrolled already" in panel.errors.last
    assert "enrolled already" in panel.status.value  # next to the Enroll button
    panel._on_retake()
    panel._on_retake()
    panel._on_retake()
    assert not panel.pending and panel.retake_button.disabled

    panel.rows["Ada"]["new_name"].value = "Ada Lovelace"
    panel.rows["Ada"]["rename"].click()
    assert gallery.people == ["Ada Lovelace"]
    assert (tmp_path / "photos" / "Ada Lovelace").is_dir()
    assert panel.rows["Ada Lovelace"]["thumbnail"].value  # found in the renamed folder

    saved = gallery.stored_photos("Ada Lovelace")
    assert len(saved) == 3 and all(p.parent.name == "Ada Lovelace" for p in saved)
    assert all(p.is_file() for p in saved)  # the sources followed the renamed folder

    # Remove asks first; Cancel keeps everything.
    panel.rows["Ada Lovelace"]["remove"].click()
    assert gallery.people == ["Ada Lovelace"]
    text, yes, no = panel.confirm_box.children
    assert "3 photo(s) the workbench saved" in text.value
    no.click()
    assert gallery.people == ["Ada Lovelace"] and not panel.confirm_box.children
    # The user's own photo, enrolled from their folder, stays after the removal.
    own = tmp_path / "own" / photos[0].name
    own.parent.mkdir()
    own.write_bytes(photos[0].read_bytes() + b"\0")  # same picture, another file
    panel.gallery.enroll("Ada Lovelace", [own], recognizer=panel.recognizer)
    assert len(gallery) == 4
    panel.rows["Ada Lovelace"]["remove"].click()
    panel.confirm_box.children[1].click()
    assert panel.errors.last is None, panel.errors.last
    assert gallery.people == [] and "nobody enrolled" in panel.people_box.children[0].value
    assert "3 photo(s)" in panel.table_message.value
    assert not any(p.exists() for p in saved)
    assert not (tmp_path / "photos" / "Ada Lovelace").exists()  # the emptied folder too
    assert own.is_file()


def test_photo_without_a_face_is_not_enrolled(panel, gallery):
    import numpy as np

    panel.add_photo(np.full((200, 200, 3), 128, np.uint8), origin="grey.jpg")
    assert "no face" in panel.quality.value
    panel.name.value = "Nobody"
    assert panel.enroll_button.disabled
    panel.enroll_button.click()  # disabled in the browser; from code it explains
    assert "no photo with exactly one good face" in panel.errors.last
    assert len(gallery) == 0


def test_unreadable_upload_is_reported(panel):
    panel.upload.value = (
        {
            "name": "broken.jpg",
            "type": "image/jpeg",
            "size": 4,
            "content": memoryview(b"nope"),
            "last_modified": __import__("datetime").datetime.now(),
        },
    )
    assert "broken.jpg" in panel.errors.last
    assert "broken.jpg: broken.jpg" not in panel.errors.last  # named once
    assert not panel.pending


def test_enroll_folder(panel, gallery, people, tmp_path):
    from workbench.ui.demo import copy_people

    folder = copy_people(people, tmp_path / "refs")
    panel.folder.value = str(folder)
    panel.folder_button.click()
    assert panel.errors.last is None, panel.errors.last
    assert sorted(gallery.people) == sorted(people)
    assert "enrolled 9 faces" in panel.folder_message.value
    assert set(panel.rows) == set(people)
    assert "prior for 3 people" in panel.threshold_label.value

    panel.folder.value = str(tmp_path / "missing")
    panel.folder_button.click()
    assert "expected a folder" in panel.errors.last


def test_webcam_capture_and_retake(gallery, recognizer, people, tmp_path):
    """The browser's side of ImageRecorder is played by setting its traits."""
    cam_panel = EnrollPanel(gallery, recognizer, photos_dir=tmp_path / "photos", camera=True)
    photo = next(iter(people.values()))[0]
    cam_panel.capture_button.click()
    assert cam_panel.recorder.recording and cam_panel.capture_button.disabled
    cam_panel.recorder.image.value = photo.read_bytes()
    cam_panel.recorder.recording = False  # the browser: "snapshot is in"
    assert cam_panel.errors.last is None, cam_panel.errors.last
    assert len(cam_panel.pending) == 1 and cam_panel.pending[0].origin == "webcam"
    assert not cam_panel.capture_button.disabled
    cam_panel.retake_button.click()
    assert not cam_panel.pending
    cam_panel.capture_button.click()
    cam_panel.recorder.image.value = photo.read_bytes()
    cam_panel.recorder.recording = False
    cam_panel.name.value = "Webcam Person"
    cam_panel.enroll_button.click()
    assert gallery.people == ["Webcam Person"]


def test_webcam_image_arriving_after_recording_off(gallery, recognizer, people, tmp_path):
    """ "Recording off" before the image (seen in headless Chromium): re-armed, then the
    late image is taken; a camera that never sends one ends in a message."""
    cam_panel = EnrollPanel(gallery, recognizer, photos_dir=tmp_path / "photos", camera=True)
    cam_panel.capture_button.click()
    cam_panel.recorder.recording = False
    assert cam_panel.recorder.recording  # re-armed
    cam_panel.recorder.image.value = next(iter(people.values()))[0].read_bytes()
    assert len(cam_panel.pending) == 1 and cam_panel.errors.last is None

    cam_panel.recorder.image.value = b""
    cam_panel.capture_button.click()
    for _ in range(4):
        cam_panel.recorder.recording = False
    assert "the webcam sent no image" in cam_panel.errors.last
    assert not cam_panel.capture_button.disabled


def test_blank_name_says_a_name_is_needed_and_enroll_resets_the_form(panel, people, uploaded):
    from workbench.ui.enroll import NAME_NEEDED, NO_PHOTO_YET

    photos = next(iter(people.values()))
    assert panel.name_message.value == ""  # nothing to enroll yet: nothing to ask
    panel.upload.value = (uploaded(photos[0]), uploaded(photos[1]))
    assert panel.enroll_button.disabled and NAME_NEEDED in panel.name_message.value
    panel.name.value = "   "
    assert panel.enroll_button.disabled and NAME_NEEDED in panel.name_note
    panel.retake_button.click()
    assert "dropped the photo" in panel.quality.value
    panel.name.value = "Ada"
    assert panel.name_note == "ok" and not panel.enroll_button.disabled
    panel.enroll_button.click()
    assert "enrolled 1 face(s) of <b>Ada</b>" in panel.status.value
    # What described the enrolled photos and their name is gone.
    assert panel.name.value == "" and panel.name_message.value == ""
    assert panel.quality.value == NO_PHOTO_YET and not panel.preview.value


def test_errors_show_next_to_their_control_until_it_is_used_again(
    panel, people, uploaded, tmp_path
):
    from workbench.ui.demo import copy_people

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"nope")
    panel.upload.value = (uploaded(broken),)
    assert "broken.jpg" in panel.upload_message.value
    panel.folder.value = str(tmp_path / "missing")
    panel.folder_button.click()
    assert "expected a folder" in panel.folder_message.value
    assert "broken.jpg" in panel.upload_message.value  # each error stays with its control
    assert panel.output.outputs == ()  # nothing piles up at the bottom of the panel

    panel.upload.value = (uploaded(next(iter(people.values()))[0]),)
    assert panel.upload_message.value == "" and panel.errors.last is None
    panel.folder.value = str(copy_people(dict([next(iter(people.items()))]), tmp_path / "r"))
    panel.folder_button.click()
    assert "expected a folder" not in panel.folder_message.value
    assert "enrolled 3 faces" in panel.folder_message.value


def test_look_alike_warning_in_the_panel(panel, gallery, lfw_dir, uploaded):
    """The same person enrolled under a second name: the panel says they look alike."""
    photos = sorted((lfw_dir / "Colin_Powell").iterdir())
    panel.upload.value = tuple(uploaded(p) for p in photos[:2])
    panel.name.value = "Colin"
    panel.enroll_button.click()
    assert "warning" not in panel.status.value
    panel.upload.value = tuple(uploaded(p) for p in photos[2:4])
    panel.name.value = "Colin again"
    panel.enroll_button.click()
    assert panel.errors.last is None, panel.errors.last
    assert "warning: Colin again looks like Colin: centroid distance" in panel.status.value


def test_remove_in_the_panel_purges_a_database_gallery(
    pg_cluster, pg_url, embedder, recognizer, people, uploaded, tmp_path
):
    """The panel's Remove takes the CLI's path (workbench/gallery/removal.py): on
    PostgreSQL the person's name and embeddings leave the table files too."""
    import os

    import psycopg

    from workbench.gallery import Gallery

    if not os.access(pg_cluster.datadir, os.R_OK):
        pytest.skip("the server's data folder is not readable here")
    secret = "Yolanda Quibbleworth"
    photos = next(iter(people.values()))
    with Gallery(pg_url, model_id=embedder.model_id) as gallery:
        panel = EnrollPanel(gallery, recognizer, photos_dir=tmp_path / "photos", camera=False)
        panel.upload.value = tuple(uploaded(p) for p in photos[:2])
        panel.name.value = secret
        panel.enroll_button.click()
        assert panel.errors.last is None, panel.errors.last
        vector = gallery.embeddings()[0][0]
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        assert pg_cluster.files_hold(secret.encode())
        panel.rows[secret]["remove"].click()
        panel.confirm_box.children[1].click()
        assert panel.errors.last is None, panel.errors.last
        assert gallery.people == [] and "purged" in panel.table_message.value
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        assert not pg_cluster.files_hold(secret.encode())
        assert not pg_cluster.files_hold(vector.tobytes()[:64])


@pytest.fixture
def counted(recognizer, monkeypatch):
    """The recognizer, counting its ``detect`` calls (``counted.calls``)."""
    calls = []
    detect = recognizer.detect

    def counting(image):
        calls.append(1)
        return detect(image)

    monkeypatch.setattr(recognizer, "detect", counting)
    recognizer.calls = calls
    yield recognizer
    del recognizer.calls


def _right(buttons, photo):
    """Index of the right-hand face (Hugo Chavez in the ``two_faces`` photo)."""
    import numpy as np

    assert len(buttons) == len(photo.detections) == 2
    return int(np.argmax(photo.detections.xyxy[:, 0]))


def _nearer_hugo(gallery, recognizer, lfw_dir, name: str) -> None:
    """The face enrolled as ``name`` is Hugo Chavez's: another photo of him is nearer to
    it than another photo of Colin Powell."""
    from workbench.images import load_image

    def distance(person: str) -> float:
        image = load_image(sorted((lfw_dir / person).iterdir())[3])
        emb = recognizer.embed(image, recognizer.detect(image).largest())
        [match] = gallery.search(emb, k=1).best()
        assert match.label in (name, "unknown")
        return float(match.distance)

    assert distance("Hugo_Chavez") < distance("Colin_Powell")


def test_group_upload_shows_faces_and_enrolls_the_one_clicked(
    gallery, counted, lfw_dir, two_faces, uploaded, tmp_path
):
    panel = EnrollPanel(gallery, counted, photos_dir=tmp_path / "photos", camera=False)
    group = two_faces(tmp_path / "group.jpg")
    panel.upload.value = (uploaded(group),)
    assert panel.errors.last is None, panel.errors.last
    [photo] = panel.pending
    assert photo.needs_pick and not photo.usable
    assert "2 faces found: click the face to enroll" in panel.quality.value
    assert "1 waiting for you to click the face" in panel.pending_label.value
    assert len(panel.picker.thumbnails) == 2 and all(panel.picker.thumbnails)
    assert "group.jpg: 2 faces" in panel.picker.title.value
    # Enroll before a pick: refused, said next to the button.
    panel.name.value = "Hugo"
    assert panel.enroll_button.disabled
    panel.enroll_button.click()
    assert "click the face to enroll first" in panel.status.value
    assert len(gallery) == 0

    right = _right(panel.picker.buttons, photo)
    panel.picker.buttons[1 - right].click()  # a first pick can be changed
    panel.picker.buttons[right].click()
    assert panel.errors.last is None, panel.errors.last
    assert photo.face == right and photo.usable, photo.quality
    assert "face 2 of 2 from the left" in panel.quality.value  # Hugo stands right
    shown = panel.picker.faces.children
    assert shown[-1] is panel.picker.buttons[right]  # thumbnails left to right
    assert panel.picker.picked == right
    assert "wb-face-picked" in panel.picker.buttons[right]._dom_classes
    assert "wb-face-picked" not in panel.picker.buttons[1 - right]._dom_classes
    assert not panel.enroll_button.disabled
    panel.enroll_button.click()
    assert panel.errors.last is None, panel.errors.last
    [face] = gallery.faces("Hugo")
    assert face.box[0] >= 250  # the right-hand face, as clicked
    assert panel.last_summary.unknowns_kept == 1  # the other face: an unknown
    assert not panel.picker.showing  # nothing left to pick
    assert counted.calls == [1]  # detected once: for the preview, reused to enroll
    _nearer_hugo(gallery, counted, lfw_dir, "Hugo")

    # A thumbnail of a photo dropped since (Retake): the error is shown in the panel.
    panel.upload.value = (uploaded(two_faces(tmp_path / "group.webp")),)
    stale = panel.picker.buttons[0]
    panel.retake_button.click()
    assert not panel.picker.showing
    stale.click()
    assert "no photo with several faces is waiting" in panel.quality.value
    assert len(gallery) == 1

    # A bad index from code: a package error, nothing changes.
    panel.upload.value = (uploaded(two_faces(tmp_path / "group.png")),)
    with pytest.raises(InvalidArgumentError, match="face 6 does not exist: 2 faces found"):
        panel.pick(5)
    assert panel.pending[0].needs_pick


def test_one_face_photo_needs_no_pick_and_is_detected_once(
    gallery, counted, people, uploaded, tmp_path
):
    panel = EnrollPanel(gallery, counted, photos_dir=tmp_path / "photos", camera=False)
    photos = next(iter(people.values()))
    panel.upload.value = tuple(uploaded(p) for p in photos[:2])
    assert not panel.picker.showing and not panel.picker.widget.children
    panel.name.value = "Ada"
    panel.enroll_button.click()
    assert panel.errors.last is None and len(gallery) == 2
    assert len(counted.calls) == 2  # one detection per photo, not two


def test_webcam_frame_with_two_faces_shows_the_picker(gallery, recognizer, two_faces, tmp_path):
    cam_panel = EnrollPanel(gallery, recognizer, photos_dir=tmp_path / "photos", camera=True)
    cam_panel.capture_button.click()
    cam_panel.recorder.image.value = two_faces(tmp_path / "frame.jpg").read_bytes()
    cam_panel.recorder.recording = False
    assert cam_panel.errors.last is None, cam_panel.errors.last
    [photo] = cam_panel.pending
    assert photo.origin == "webcam" and len(cam_panel.picker.buttons) == 2
    right = _right(cam_panel.picker.buttons, photo)
    cam_panel.picker.buttons[right].click()
    cam_panel.name.value = "Hugo"
    cam_panel.enroll_button.click()
    assert cam_panel.errors.last is None, cam_panel.errors.last
    assert [f.box[0] >= 250 for f in gallery.faces("Hugo")] == [True]


def test_folder_photo_with_two_faces_waits_for_a_click(
    panel, gallery, counted, lfw_dir, two_faces, tmp_path
):
    import shutil

    root = tmp_path / "refs"
    (root / "Hugo").mkdir(parents=True)
    shutil.copyfile(sorted((lfw_dir / "Hugo_Chavez").iterdir())[1], root / "Hugo" / "one.jpg")
    two_faces(root / "Hugo" / "group.jpg")
    two_faces(root / "Hugo" / "group2.png")
    panel.recognizer = counted
    panel.folder.value = str(root)
    panel.folder_button.click()
    assert panel.errors.last is None, panel.errors.last
    assert len(gallery.faces("Hugo")) == 1  # the group photos wait
    assert "2 photo(s) with several faces" in panel.folder_message.value
    assert len(panel.held) == 2 and len(panel.folder_picker.buttons) == 2
    assert "click Hugo's face (1 more after this one)" in panel.folder_picker.title.value
    held = panel.held[0][1]
    right = _right(panel.folder_picker.buttons, held)
    stale = panel.folder_picker.buttons[right]
    stale.click()
    assert panel.errors.last is None, panel.errors.last
    assert "enrolled face" in panel.folder_message.value and "as Hugo" in panel.folder_message.value
    faces = gallery.faces("Hugo")
    assert len(faces) == 2 and faces[1].box[0] >= 250
    assert "2 face(s)" in panel.rows["Hugo"]["row"].children[1].value
    assert len(counted.calls) == 3  # three photos, each detected once
    # A late second click on the first photo's thumbnail: refused, not applied to the
    # photo shown now.
    assert stale not in panel.folder_picker.buttons  # the second photo's are on show
    stale.click()
    assert "was enrolled or skipped already" in panel.folder_message.value
    assert len(gallery.faces("Hugo")) == 2 and len(panel.held) == 1
    with pytest.raises(InvalidArgumentError, match="face 3 does not exist: 2 faces"):
        panel.pick_held(2)
    # The second group photo: skipped.
    assert len(panel.held) == 1 and panel.folder_picker.showing
    panel.folder_picker.skip_button.click()
    assert "skipped" in panel.folder_message.value
    assert not panel.held and not panel.folder_picker.showing
    assert len(gallery.faces("Hugo")) == 2
    with pytest.raises(InvalidArgumentError, match="no folder photo is waiting"):
        panel.pick_held(0)


def test_pending_photos_say_which_turned_view_is_missing(panel, lfw_dir, uploaded):
    """George W Bush frontal (0006) and turned towards the image's left (0004): the panel
    asks for a photo turned right before enrolling; with the mirror image of 0004 it
    stops asking."""
    import numpy as np

    from workbench.images import load_image

    frontal, turned = (lfw_dir / "George_W_Bush" / f"George_W_Bush_000{i}.jpg" for i in (6, 4))
    panel.upload.value = (uploaded(frontal), uploaded(turned))
    assert [p.yaw is not None for p in panel.pending] == [True, True]
    assert "views: 1 frontal, 1 turned left; add a photo turned right" in (
        panel.pending_label.value
    )
    panel.add_photo(np.ascontiguousarray(load_image(turned)[:, ::-1]), origin="mirror")
    assert panel.pending[-1].yaw > 25
    assert "views:" not in panel.pending_label.value
    panel.name.value = "George W Bush"
    panel.enroll_button.click()
    assert panel.errors.last is None, panel.errors.last
    assert panel.last_summary.views()["George W Bush"] == {
        "frontal": 1,
        "turned left": 1,
        "turned right": 1,
    }
