"""Face recognition in JupyterLab: detect, align, embed, and name faces against a gallery.

The names a user starts from are here; each is imported on first use, so
``import workbench`` (and ``workbench --help``) imports no model, Keras or MediaPipe.

Example:
    >>> import workbench
    >>> sorted(workbench.__all__)[:3]
    ['FaceDetections', 'Gallery', 'Recognition']
    >>> with workbench.open_recognizer(gallery="gallery.sqlite") as rec:  # doctest: +SKIP
    ...     print(rec.recognize(workbench.load_image("photo.jpg")).to_dicts())
"""

from __future__ import annotations

from workbench._lazy import lazy_exports

#: Public name -> the module that defines it.
_EXPORTS = {
    "FaceDetections": "workbench.faces",
    "UNKNOWN": "workbench.faces",
    "load_image": "workbench.images",
    "create_detector": "workbench.detect",
    "default_embedder": "workbench.embed",
    "Gallery": "workbench.gallery",
    "Recognition": "workbench.recognize",
    "Recognizer": "workbench.recognize",
    "open_recognizer": "workbench.recognize",
    "WorkbenchError": "workbench.errors",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
