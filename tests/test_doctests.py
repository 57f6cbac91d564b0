"""The ``>>>`` examples in the package's docstrings run, where they need no model.

Every module whose source holds an example line not marked ``# doctest: +SKIP`` is run
with :mod:`doctest` (examples that need a model, a camera or a gallery file are marked
``+SKIP`` where they are written). Modules are found by reading their source, so a new
example is tested without being listed here, and modules with only skipped examples are
never imported (some import Keras).
"""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

import workbench

ROOT = Path(workbench.__file__).parent


def runs(source: str) -> bool:
    """Whether a docstring in ``source`` holds an example that is not skipped (doctest's
    own parser reads the options, so a SKIP on a continuation line counts)."""
    parser = doctest.DocTestParser()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node)
            if doc and any(not e.options.get(doctest.SKIP) for e in parser.get_examples(doc)):
                return True
    return False


def modules_with_examples() -> list[str]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if runs(path.read_text(encoding="utf-8")):
            parts = path.relative_to(ROOT.parent).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


MODULES = modules_with_examples()


def test_examples_are_found():
    """The search itself works (the pipeline's and faces' examples at least)."""
    assert {"workbench.pipeline", "workbench.faces"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.attempted > 0, f"{name}: no example ran"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
