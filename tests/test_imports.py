"""The package's modules import each other without a cycle (type-only imports included),
measured as ``scripts/measure_structure.py`` does."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import workbench

ROOT = Path(workbench.__file__).parent
SCRIPT = ROOT.parent / "scripts" / "measure_structure.py"


def load_measure():
    spec = importlib.util.spec_from_file_location("measure_structure", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles():
    m = load_measure()
    names = {m.module_name(p, ROOT): p for p in ROOT.rglob("*.py")}
    graph = {
        n: m.imports_of(
            ast.parse(p.read_text()), n, p.name == "__init__.py", set(names), typing=True
        )
        for n, p in names.items()
    }
    # A package's own __init__ re-exporting its submodules is not a cycle of design.
    graph = {
        v: {w for w in ws if not (names[w].name == "__init__.py" and v.startswith(w + "."))}
        for v, ws in graph.items()
    }
    found = m.cycles(graph)
    assert not found, (
        f"import cycles: {found}; move what both sides need into a module of its own (as "
        "gallery/types.py), or name a class through its package under TYPE_CHECKING "
        "(from workbench.gallery import Gallery)"
    )


def test_the_cycle_finder_finds_one():
    m = load_measure()
    assert m.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
