"""The package's exceptions: one base class, value errors also subclass ``ValueError``.

Every message says what was expected and what arrived, so the CLI can print it as one
line and a notebook can show it in a widget without a traceback.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidImageError(WorkbenchError, ValueError):
    """An image input that cannot be read or has the wrong shape, dtype or size."""


class InvalidArgumentError(WorkbenchError, ValueError):
    """An option or argument outside what a function accepts."""


class ModelAssetError(WorkbenchError):
    """A model file that cannot be found, fetched, verified or parsed."""


class DetectorError(WorkbenchError):
    """A detector that failed to start or to run."""


class GalleryError(WorkbenchError):
    """A gallery file that is missing, corrupt, of another schema or another model."""


class InvalidNameError(GalleryError, ValueError):
    """A person name that cannot be stored (empty, control characters, path parts)."""


class SourceError(WorkbenchError):
    """A frame source that cannot be opened or stopped delivering frames."""


class TrainingError(WorkbenchError):
    """Training data or options that cannot produce a model."""
