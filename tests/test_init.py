"""The package root: the names a user starts from, imported on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_root_exports_lazily():
    """``import workbench`` and reading every exported name import neither Keras nor
    MediaPipe (the CLI starts from here); each name is the defining module's object."""
    code = (
        "import sys, workbench\n"
        "assert 'workbench.recognize' not in sys.modules, 'eager import'\n"
        "values = {n: getattr(workbench, n) for n in workbench.__all__}\n"
        "heavy = [m for m in ('keras', 'tensorflow', 'mediapipe') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from workbench.recognize import Recognizer\n"
        "from workbench.images import load_image\n"
        "assert values['Recognizer'] is Recognizer and values['load_image'] is load_image\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_unknown_name_is_attribute_error():
    import workbench

    with pytest.raises(AttributeError, match="no attribute 'Recogniser'"):
        workbench.Recogniser  # noqa: B018 - the look-up is the test
