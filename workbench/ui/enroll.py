"""``EnrollPanel``: add people to a gallery from the webcam, uploads or a folder.

Every photo taken or uploaded is saved under ``photos_dir/<name>/`` when enrolled, so the
enrollment folder stays the record of who was enrolled from what (and a gallery can be
rebuilt from it with ``Gallery.enroll_folder``).

A photo with several faces (an upload, a webcam frame, a photo in the enrolled folder)
shows them as thumbnails (:class:`~workbench.ui.enroll_picker.FacePicker`): the face the
user clicks is enrolled, through the same ``enroll(face=INDEX)`` path as ``workbench add
--face``. Each photo is detected once: the faces of the preview are the ones enrolled.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import InvalidArgumentError, WorkbenchError
from workbench.gallery.enroll import DetectedPhoto
from workbench.ui.common import (
    CAMERA_CSS,
    ErrorLog,
    crop_face,
    encode_image,
    face_quality,
    message_html,
    set_image,
    threshold_html,
    thumbnail,
)
from workbench.ui.enroll_picker import FacePicker, left_to_right

if TYPE_CHECKING:
    from workbench.faces import FaceDetections
    from workbench.gallery import Gallery
    from workbench.recognize import Recognizer

#: Shown under the name field while photos wait and no name is typed.
NAME_NEEDED = "a name is needed: type the name of the person in the photos"
NO_PHOTO_YET = "<i>no photo yet</i>"


@dataclass
class Photo:
    """One photo waiting to be enrolled.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        data: the encoded bytes as received (saved as is).
        suffix: file suffix for ``data`` (``.jpg``, ``.png``).
        origin: ``"webcam"``, or the uploaded file's name.
        detections: faces found in ``image`` (found once: enrolled as they are).
        quality: one-line verdict of :func:`workbench.ui.common.face_quality`.
        usable: exactly one good face, or the face picked of several is good.
        face: the face picked when there are several (an index into ``detections``).
        yaw: that face's yaw in degrees (:mod:`workbench.mesh`), ``None`` when unknown.
    """

    image: np.ndarray
    data: bytes
    suffix: str
    origin: str
    detections: FaceDetections
    quality: str
    usable: bool
    face: int | None = None
    yaw: float | None = None

    @property
    def needs_pick(self) -> bool:
        """Several faces and none picked yet."""
        return len(self.detections) > 1 and self.face is None


class EnrollPanel:
    """Widgets to enroll people into a :class:`workbench.gallery.Gallery`.

    Args:
        gallery: the gallery to write to.
        recognizer: a :class:`workbench.recognize.Recognizer` (its detector and embedder
            are used; its gallery is not needed).
        photos_dir: where each person's photos are saved, ``<photos_dir>/<name>/``.
        camera: show the browser webcam (ipywebrtc); ``False`` for uploads and folders
            only (tests, a kernel without a browser).

    Example:
        >>> panel = EnrollPanel(gallery, recognizer)  # doctest: +SKIP
        >>> panel  # the widget  # doctest: +SKIP
    """

    def __init__(
        self,
        gallery: Gallery,
        recognizer: Recognizer,
        *,
        photos_dir: str | Path = "reference_images",
        camera: bool = True,
    ) -> None:
        import ipywidgets as w

        self.gallery = gallery
        self.recognizer = recognizer
        self.photos_dir = Path(photos_dir)
        self.pending: list[Photo] = []
        #: Folder photos with several faces, waiting for the user to pick the person's
        #: face: ``(person, DetectedPhoto)``.
        self.held: list[tuple[str, DetectedPhoto]] = []
        self._picker_photo: Photo | None = None  # the photo whose faces the picker shows
        self.last_summary = None  # the EnrollSummary of the last enrollment
        self._awaiting_capture = False
        self._rearmed = 0

        self.output = w.Output()
        self.errors = ErrorLog(self.output)

        # Webcam ---------------------------------------------------------------------------
        self.camera = None
        self.recorder = None
        self.capture_button = w.Button(description="Capture", icon="camera")
        self.retake_button = w.Button(description="Retake", icon="undo", disabled=True)
        self.preview = w.Image(format="jpeg", width=160, height=160)
        set_image(self.preview, b"")
        self.quality = w.HTML(NO_PHOTO_YET)
        if camera:
            import ipywebrtc

            self.camera = ipywebrtc.CameraStream.facing_user(
                audio=False, layout=w.Layout(width="320px")
            )
            self.camera.add_class("wb-camera")
            self.recorder = ipywebrtc.ImageRecorder(stream=self.camera, format="jpeg")
            self.recorder.observe(
                self.errors.guard(self._on_recording, near=self.quality), names="recording"
            )
            self.recorder.image.observe(
                self.errors.guard(self._on_image, near=self.quality), names="value"
            )
        else:
            self.capture_button.disabled = True
        self.capture_button.on_click(self.errors.guard(self._on_capture, near=self.quality))
        self.retake_button.on_click(self.errors.guard(self._on_retake, near=self.quality))

        # Uploads and folder -------------------------------------------------------------
        self.upload = w.FileUpload(accept="image/*", multiple=True, description="Upload photos")
        # Each control's errors are shown next to it, and cleared when it is used again.
        self.upload_message = w.HTML()
        self.upload.observe(
            self.errors.guard(self._on_upload, near=self.upload_message), names="value"
        )
        #: The faces of the photo that needs a pick (uploads and webcam).
        self.picker = FacePicker()
        #: The faces of the held folder photo (:attr:`held`).
        self.folder_picker = FacePicker()
        self.folder = w.Text(
            placeholder="reference_images/ (one sub-folder per person)", description="folder"
        )
        self.folder_button = w.Button(description="Enroll folder", icon="folder-open")
        self.folder_message = w.HTML()
        self.folder_button.on_click(
            self.errors.guard(self._on_enroll_folder, near=self.folder_message)
        )

        # Name and enroll -----------------------------------------------------------------
        self.name = w.Text(placeholder="name of the person", description="name")
        self.name_message = w.HTML()
        #: The name check as plain text ("" when there is nothing to say).
        self.name_note = ""
        self._name_ok = False
        self.name.observe(self.errors.guard(self._on_name, near=self.name_message), names="value")
        self.pending_label = w.HTML()
        self.enroll_button = w.Button(
            description="Enroll", icon="user-plus", button_style="primary", disabled=True
        )
        self.status = w.HTML()
        self.enroll_button.on_click(self.errors.guard(self._on_enroll, near=self.status))

        # People table --------------------------------------------------------------------
        self.people_box = w.VBox()
        self.table_message = w.HTML()
        self.threshold_label = w.HTML()  # re-derived by every enrollment: shown with its source
        # "Remove" asks here first: it deletes the photos the workbench saved.
        self.confirm_box = w.HBox()
        self._rows: dict[str, Any] = {}

        left = [self.camera] if self.camera is not None else [w.HTML("<i>webcam off</i>")]
        capture = w.HBox(
            [
                w.VBox([*left, w.HBox([self.capture_button, self.retake_button])]),
                w.VBox([self.preview, self.quality]),
            ]
        )
        self.widget = w.VBox(
            [
                w.HTML(CAMERA_CSS + "<b>1. Take photos with the webcam, or upload some</b>"),
                capture,
                w.HBox([self.upload, self.upload_message]),
                self.picker.widget,
                w.HTML("<b>2. Name the person and enroll</b>"),
                w.HBox([self.name, self.enroll_button]),
                self.name_message,
                self.pending_label,
                self.status,
                w.HTML("<b>Or enroll a whole folder</b>"),
                w.HBox([self.folder, self.folder_button]),
                self.folder_message,
                self.folder_picker.widget,
                w.HTML("<b>Enrolled people</b>"),
                self.threshold_label,
                self.people_box,
                self.confirm_box,
                self.table_message,
                self.output,
            ]
        )
        self._update_pending()
        self.refresh()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # Photos ---------------------------------------------------------------------------

    def add_photo(self, data: bytes | np.ndarray, *, origin: str = "webcam") -> Photo:
        """Detect the faces of one photo, show its face and quality, queue it.

        Args:
            data: encoded image bytes (JPEG, PNG, ...) or an ``(H, W, 3)`` uint8 array.
            origin: where it came from, shown in messages.

        Raises:
            InvalidImageError: the bytes are not a readable image.
        """
        from workbench.images import load_image

        image = load_image(data, label=origin)  # "photo.jpg: truncated ...", not "<n bytes>"
        if isinstance(data, np.ndarray):
            data, suffix = encode_image(image), ".jpg"
        else:
            data = bytes(data)
            suffix = ".png" if data[:8] == b"\x89PNG\r\n\x1a\n" else ".jpg"
        # The only detection of this photo: enrollment reuses these faces.
        detections = self.recognizer.detect(image)
        text, usable = face_quality(image, detections)
        if len(detections) > 1:
            text = f"{len(detections)} faces found: click the face to enroll"
        photo = Photo(image, data, suffix, origin, detections, text, usable)
        if len(detections) == 1:
            photo.yaw = self._yaw(photo)
        self.pending.append(photo)
        self._show_photo(photo)
        self.retake_button.disabled = False
        self._show_picker()
        self._update_pending()
        return photo

    def _yaw(self, photo: Photo) -> float | None:
        """The chosen face's yaw, when the recognizer can tell it (its face mesh)."""
        yaw_of = getattr(self.recognizer, "yaw", None)
        one = photo.face if photo.face is not None else 0
        if not callable(yaw_of) or not len(photo.detections):
            return None
        yaw = float(yaw_of(photo.image, photo.detections[[one]])[0])
        return yaw if np.isfinite(yaw) else None

    def _show_photo(self, photo: Photo) -> None:
        """The preview (the face, or the whole photo while no face is chosen) and the
        photo's verdict."""
        one = photo.face if photo.face is not None else (0 if len(photo.detections) == 1 else None)
        face = photo.image if one is None else crop_face(photo.image, photo.detections.xyxy[one])
        set_image(self.preview, encode_image(thumbnail(face, 160)))
        colour = "green" if photo.usable else "darkorange"
        self.quality.value = (
            f"<span style='color:{colour}'>{html.escape(photo.origin)}: "
            f"{html.escape(photo.quality)}</span>"
        )

    def pick(self, index: int, photo: Photo | None = None) -> Photo:
        """Choose face ``index`` of ``photo`` (default: the one the picker shows) as the
        face to enroll; its quality decides whether the photo is usable.

        Raises:
            InvalidArgumentError: no photo waits for a pick, or ``index`` is out of range.
        """
        photo = photo if photo is not None else self._picker_photo
        if photo is None or not any(p is photo for p in self.pending):
            raise InvalidArgumentError("no photo with several faces is waiting for a pick")
        n = len(photo.detections)
        if not 0 <= int(index) < n:
            raise InvalidArgumentError(f"face {int(index) + 1} does not exist: {n} faces found")
        photo.face = int(index)
        text, photo.usable = face_quality(photo.image, photo.detections[[photo.face]])
        rank = left_to_right(photo.detections).index(photo.face) + 1
        photo.quality = f"face {rank} of {n} from the left: {text}"
        photo.yaw = self._yaw(photo)
        self._show_photo(photo)
        self._show_picker()
        self._update_pending()
        return photo

    def _show_picker(self) -> None:
        """Faces to click: the first photo still waiting for a pick, else the last photo
        picked (to change the pick), else nothing."""
        waiting = [p for p in self.pending if p.needs_pick]
        picked = [p for p in self.pending if len(p.detections) > 1 and p.face is not None]
        photo = waiting[0] if waiting else (picked[-1] if picked else None)
        self._picker_photo = photo
        if photo is None:
            self.picker.clear()
            return
        more = f" ({len(waiting) - 1} more photo(s) after this one)" if len(waiting) > 1 else ""
        self.picker.show(
            photo.image,
            photo.detections,
            title=f"{photo.origin}: {len(photo.detections)} faces: click the face to enroll" + more,
            on_pick=lambda i, p=photo: self.pick(i, p),
            picked=photo.face,
            wrap=lambda fn: self.errors.guard(fn, near=self.quality),
        )

    def _on_capture(self, _button: Any = None) -> None:
        if self.recorder is None:
            raise InvalidArgumentError("the webcam is off in this panel")
        self._awaiting_capture = True
        self._rearmed = 0
        self.capture_button.disabled = True
        self.quality.value = "<i>capturing...</i>"
        self.recorder.recording = True

    def _on_recording(self, change: dict) -> None:
        # The browser sets `image`, then turns `recording` off: "off" means the photo is
        # in. Seen rarely in headless Chromium: "off" with no image yet; then the image
        # observer below takes it when it comes, and the recorder is re-armed meanwhile.
        if change.get("new") or not self._awaiting_capture:
            return
        data = self.recorder.image.value
        if data:
            self._take_capture(bytes(data))
        elif self._rearmed < 3:
            self._rearmed += 1
            self.recorder.recording = True
        else:
            self._awaiting_capture = False
            self.capture_button.disabled = False
            raise InvalidArgumentError(
                "the webcam sent no image: allow camera access in the browser and retry"
            )

    def _on_image(self, change: dict) -> None:
        if self._awaiting_capture and change.get("new"):
            self._take_capture(bytes(change["new"]))

    def _take_capture(self, data: bytes) -> None:
        self._awaiting_capture = False
        self.capture_button.disabled = False
        self.add_photo(data, origin="webcam")

    def _on_retake(self, _button: Any = None) -> None:
        """Drop the last photo taken or uploaded."""
        if self.pending:
            dropped = self.pending.pop()
            self.quality.value = f"<i>dropped the photo from {html.escape(dropped.origin)}</i>"
        set_image(self.preview, b"")
        self.retake_button.disabled = not self.pending
        self._show_picker()
        self._update_pending()

    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        problems = []
        for item in files:
            try:
                self.add_photo(bytes(item["content"]), origin=item.get("name", "upload"))
            except WorkbenchError as exc:
                # Image errors already start with the file's name (the label above).
                name = item.get("name", "upload")
                text = str(exc)
                problems.append(text if text.startswith(f"{name}: ") else f"{name}: {text}")
        # Clear the widget so the same file can be uploaded again after a retake.
        self.upload.value = ()
        if problems:
            raise InvalidArgumentError("; ".join(problems))

    def _update_pending(self) -> None:
        good = sum(p.usable for p in self.pending)
        waiting = sum(p.needs_pick for p in self.pending)
        bad = len(self.pending) - good - waiting
        text = f"{good} photo(s) ready to enroll"
        if waiting:
            text += f", {waiting} waiting for you to click the face to enroll"
        if bad:
            text += f", {bad} without a good face (skipped)"
        if good:
            from workbench.mesh import count_views, views_hint

            # Turned views: a face seen turned away is named far more often with them
            # (benchmarks/pose.py), so the panel asks for the side that is missing.
            hint = views_hint(count_views(p.yaw for p in self.pending if p.usable))
            if hint:
                text += f"; views: {hint}"
        self.pending_label.value = text
        self._validated_name()
        self._update_enroll_button()

    # Name -----------------------------------------------------------------------------

    def _validated_name(self) -> str | None:
        from workbench.gallery.names import validate_name

        name, colour = None, "red"
        if not self.name.value.strip():
            # Enroll is greyed out without a name: say so once there is something to enroll.
            note, colour = (NAME_NEEDED if any(p.usable for p in self.pending) else ""), "gray"
        else:
            try:
                name = validate_name(self.name.value)
            except WorkbenchError as exc:
                note = str(exc)
            else:
                note, colour = "ok", "green"
                if name in self.gallery:
                    note += " (already enrolled: photos are added)"
        self._name_ok = name is not None
        self.name_note = note
        self.name_message.value = message_html(note, colour=colour) if note else ""
        return name

    def _on_name(self, _change: dict) -> None:
        self._validated_name()
        self._update_enroll_button()

    def _update_enroll_button(self) -> None:
        self.enroll_button.disabled = not (self._name_ok and any(p.usable for p in self.pending))

    # Enroll ---------------------------------------------------------------------------

    def enroll_pending(self, name: str) -> list[int]:
        """Save the usable queued photos under ``photos_dir/<name>/`` and enroll their
        faces; returns the new face ids.

        Raises:
            InvalidNameError: a bad name.
            InvalidArgumentError: no usable photo is queued.
        """
        from workbench.gallery.enroll import enroll
        from workbench.gallery.names import validate_name

        name = validate_name(name)
        usable = [p for p in self.pending if p.usable]
        if not usable:
            if any(p.needs_pick for p in self.pending):
                raise InvalidArgumentError(
                    "the photo shows several faces: click the face to enroll first"
                )
            raise InvalidArgumentError(
                "no photo with exactly one good face to enroll: capture or upload one"
            )
        # The gallery's one enrollment path: dedupe by sha256, the photo saved under
        # photos_dir/<name>/, one transaction, the same summary as the CLI's. The faces
        # are the preview's (not detected again); a picked one goes as enroll(face=i).
        summary = enroll(
            self.gallery,
            name,
            [DetectedPhoto(p.data, p.detections, face=p.face) for p in usable],
            recognizer=self.recognizer,
            save_photos=self.photos_dir,
        )
        if not summary.face_ids:
            if summary.duplicates:
                raise InvalidArgumentError(
                    "these photos are enrolled already (as "
                    + ", ".join(sorted({holder for _, holder in summary.duplicates}))
                    + "): take new ones"
                )
            raise InvalidArgumentError(f"no face could be enrolled: {summary}")
        self.pending = [p for p in self.pending if not p.usable]
        self.last_summary = summary
        self._show_picker()
        return summary.face_ids

    def _on_enroll(self, _button: Any = None) -> None:
        name = self._validated_name()
        if name is None:
            raise InvalidArgumentError("type a valid name first")
        self.enroll_button.disabled = True
        self.status.value = f"<i>enrolling {html.escape(name)}...</i>"
        try:
            ids = self.enroll_pending(name)
        except Exception:
            self.status.value = ""
            self._update_enroll_button()
            raise
        # A fresh form for the next person: the photo, its verdict and the name check
        # belonged to the photos just enrolled.
        set_image(self.preview, b"")
        self.quality.value = NO_PHOTO_YET
        self.retake_button.disabled = not self.pending
        self.name.value = ""
        self._update_pending()
        self.status.value = (
            f"enrolled {len(ids)} face(s) of <b>{html.escape(name)}</b>"
            + "".join(
                f"<br><span style='color:#b36b00'>warning: {html.escape(w)}</span>"
                for w in self.last_summary.look_alikes
            )
            # Turned views: a face seen turned away is named far more often with them.
            + "".join(f"<br><i>{html.escape(h)}</i>" for h in self.last_summary.view_hints())
        )
        self.refresh()

    def _on_enroll_folder(self, _button: Any = None) -> None:
        folder = Path(self.folder.value.strip() or self.photos_dir).expanduser()
        if not folder.is_dir():
            raise InvalidArgumentError(f"expected a folder of <person>/<photos>, got {folder}")
        self.folder_message.value = f"<i>enrolling {html.escape(str(folder))}...</i>"
        try:
            # Photos with several faces wait for the user to click the person's face.
            summary = self.gallery.enroll_folder(
                folder, recognizer=self.recognizer, multiple_faces="ask"
            )
        except Exception:
            self.folder_message.value = ""
            raise
        self.held.extend(summary.to_pick)
        text = f"<pre>{html.escape(str(summary))}</pre>"
        if summary.to_pick:
            text += (
                f"{len(summary.to_pick)} photo(s) with several faces: click the "
                "person's face in each, below"
            )
        self.folder_message.value = text
        self._show_held()
        self.refresh()

    def _show_held(self) -> None:
        """The faces of the first held folder photo, or nothing."""
        from workbench.images import load_image

        while self.held:
            person, photo = self.held[0]
            try:
                image = load_image(photo.photo)  # decoded again; its faces are not re-detected
            except WorkbenchError as exc:
                self.held.pop(0)
                self.folder_message.value = message_html(f"{exc} (skipped)", colour="#c62828")
                continue
            more = f" ({len(self.held) - 1} more after this one)" if len(self.held) > 1 else ""
            where = Path(photo.photo)
            self.folder_picker.show(
                image,
                photo.detections,
                title=f"{where.parent.name}/{where.name}: {len(photo.detections)} faces: "
                f"click {person}'s face" + more,
                # Bound to this photo: a late second click (the picker has moved on to
                # the next photo) must not enroll that face index of another photo.
                on_pick=lambda i, shown=photo: self.pick_held(i, photo=shown),
                on_skip=lambda shown=photo: self.skip_held(photo=shown),
                wrap=lambda fn: self.errors.guard(fn, near=self.folder_message),
            )
            return
        self.folder_picker.clear()

    def pick_held(self, index: int, *, photo: DetectedPhoto | None = None) -> list[int]:
        """Enroll face ``index`` of the first held folder photo as its folder's person
        (``enroll(face=index)``, the faces found by the folder's enrollment); returns the
        new face ids. ``photo``: the held photo the pick was made on (the picker's
        buttons pass it), refused unless it is still the one waiting.

        Raises:
            InvalidArgumentError: no folder photo is held, ``photo`` was enrolled or
                skipped already, or ``index`` is out of range.
        """
        from workbench.gallery.enroll import enroll

        held = self._held_first(photo)
        person, photo = held
        n, index = len(photo.detections), int(index)
        if not 0 <= index < n:
            raise InvalidArgumentError(f"face {index + 1} does not exist: {n} faces found")
        summary = enroll(
            self.gallery,
            person,
            [DetectedPhoto(photo.photo, photo.detections, face=index)],
            recognizer=self.recognizer,
        )
        self.held.pop(0)  # held is the first (checked above)
        self.last_summary = summary
        rank = left_to_right(photo.detections).index(index) + 1
        done = (
            f"enrolled face {rank} from the left of {photo.photo} as {person}"
            if summary.face_ids
            else f"{photo.photo}: nothing enrolled ({summary})"
        )
        self.folder_message.value = html.escape(done) + "".join(
            f"<br><span style='color:#b36b00'>warning: {html.escape(w)}</span>"
            for w in summary.look_alikes
        )
        self._show_held()
        self.refresh()
        return summary.face_ids

    def skip_held(self, *, photo: DetectedPhoto | None = None) -> None:
        """Enroll nothing from the first held folder photo (``photo``: as
        :meth:`pick_held`)."""
        held = self._held_first(photo)
        self.held.pop(0)  # held is the first (checked above)
        self.folder_message.value = html.escape(f"skipped {held[1].photo}")
        self._show_held()

    def _held_first(self, photo: DetectedPhoto | None) -> tuple[str, DetectedPhoto]:
        if not self.held:
            raise InvalidArgumentError("no folder photo is waiting for a pick")
        if photo is not None and self.held[0][1] is not photo:
            raise InvalidArgumentError(
                f"{photo.photo} was enrolled or skipped already: pick in the photo shown now"
            )
        return self.held[0]

    # People table ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Rebuild the table of enrolled people from the gallery."""
        import ipywidgets as w

        rows = []
        self._rows = {}
        for info in self.gallery.list_people():
            thumb = w.Image(format="jpeg", width=48, height=48)
            data = self._thumbnail(info.name)
            if data:
                thumb.value = data
            new_name = w.Text(placeholder="new name", layout=w.Layout(width="160px"))
            rename = w.Button(description="Rename", layout=w.Layout(width="90px"))
            remove = w.Button(
                description="Remove", button_style="danger", layout=w.Layout(width="90px")
            )
            rename.on_click(
                self.errors.guard(
                    lambda _b, n=info.name, t=new_name: self.rename(n, t.value),
                    near=self.table_message,
                )
            )
            remove.on_click(
                self.errors.guard(
                    lambda _b, n=info.name: self.ask_remove(n), near=self.table_message
                )
            )
            label = w.HTML(
                f"<b>{html.escape(info.name)}</b> &middot; {info.faces} face(s)",
                layout=w.Layout(width="260px"),
            )
            row = w.HBox([thumb, label, new_name, rename, remove])
            self._rows[info.name] = {
                "row": row,
                "thumbnail": thumb,
                "new_name": new_name,
                "rename": rename,
                "remove": remove,
            }
            rows.append(row)
        if not rows:
            rows = [w.HTML("<i>nobody enrolled yet</i>")]
        self.people_box.children = rows
        self.threshold_label.value = threshold_html(self.gallery)
        self.confirm_box.children = ()

    @property
    def rows(self) -> dict[str, dict[str, Any]]:
        """The table's widgets by person name (``row``, ``thumbnail``, ``new_name``,
        ``rename``, ``remove``)."""
        return self._rows

    def rename(self, old: str, new: str) -> None:
        """Rename a person in the gallery and their folder in ``photos_dir``, then refresh.

        The faces whose photos lay in the moved folder are pointed at the new place, so
        the gallery's sources stay true (and removing the person finds the photos).
        """
        from workbench.gallery.names import validate_name

        new = validate_name(new)
        self.gallery.rename(old, new)
        src, dst = self.photos_dir / old, self.photos_dir / new
        if src.is_dir() and not dst.exists():
            src.rename(dst)
            moves = {}
            for face in self.gallery.faces(new):
                path = Path(face.source) if face.source else None
                if path is not None and path.parent == src:
                    moves[face.source] = str(dst / path.name)
            self.gallery.move_sources(moves)
        self.table_message.value = f"renamed {html.escape(old)} to <b>{html.escape(new)}</b>"
        self.refresh()

    def ask_remove(self, name: str) -> None:
        """Show what removing ``name`` deletes, with buttons to go ahead or cancel."""
        import ipywidgets as w

        faces = len(self.gallery.faces(name))
        saved = [p for p in self.gallery.stored_photos(name) if p.is_file()]
        where = f" in {html.escape(str(saved[0].parent))}" if saved else ""
        text = (
            f"Remove <b>{html.escape(name)}</b>: {faces} face(s) and the {len(saved)} "
            f"photo(s) the workbench saved for them{where}? Photos enrolled from your own "
            "folders are not touched."
        )
        yes = w.Button(description="Remove", button_style="danger", icon="trash")
        no = w.Button(description="Cancel")
        yes.on_click(self.errors.guard(lambda _b: self.remove(name), near=self.table_message))
        no.on_click(self.errors.guard(lambda _b: self._cancel_remove(), near=self.table_message))
        self.confirm_box.children = (w.HTML(text), yes, no)

    def _cancel_remove(self) -> None:
        self.confirm_box.children = ()
        self.table_message.value = ""

    def remove(self, name: str) -> None:
        """Remove a person and the photos the workbench saved for them (captures and
        uploads, under ``photos_dir/<name>/``), then refresh. Photos enrolled from the
        user's own folders stay. The table's Remove button asks first (:meth:`ask_remove`).
        """
        from workbench.gallery.removal import remove_people

        # The CLI's path: rows, saved photos, then a purge where the store keeps bytes.
        (removed,), purged = remove_people(self.gallery, [name])
        self.table_message.value = (
            f"removed {html.escape(name)} ({removed.faces} face(s)) and "
            f"{len(removed.photos_deleted)} photo(s) the workbench had saved for them"
            + ("; purged from the database's files" if purged else "")
        )
        self.refresh()

    def _thumbnail(self, name: str) -> bytes | None:
        """The person's first enrolled face, cropped from its source photo."""
        from workbench.images import load_image

        for face in self.gallery.faces(name):
            if not face.source:
                continue
            path = Path(face.source)
            if not path.is_file():  # the folder was renamed along with the person
                path = self.photos_dir / name / path.name
            if not path.is_file():
                continue
            try:
                image = load_image(path)
            except WorkbenchError:
                continue
            crop = crop_face(image, np.asarray(face.box)) if face.box else image
            return encode_image(thumbnail(crop, 48))
        return None
