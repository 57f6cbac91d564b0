"""Structure figures for workbench/: largest modules, long functions, import cycles.

Used by issue 13 to measure before and after a refactor (pair with `duplicates workbench`):

    python scripts/measure_structure.py [--root workbench] [--long 80]

Import edges count every `import`/`from ... import` of a workbench module anywhere in a file
(top level or inside a function), since a deferred import still ties the modules together;
``if TYPE_CHECKING:`` blocks are left out because they never run; a second count includes
them (a type-only cycle still means two modules know each other's insides).
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(
    tree: ast.Module, name: str, is_pkg: bool, known: set[str], *, typing: bool = False
) -> set[str]:
    found: set[str] = set()

    def resolve(target: str) -> str | None:
        # The longest known module that is a prefix of target.
        while target:
            if target in known:
                return target
            target = target.rpartition(".")[0]
        return None

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child) and not typing:
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if (hit := resolve(alias.name)) is not None:
                        found.add(hit)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name if is_pkg else name.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        base = base.rpartition(".")[0]
                    mod = f"{base}.{child.module}" if child.module else base
                else:
                    mod = child.module or ""
                for alias in child.names:
                    hit = resolve(f"{mod}.{alias.name}")
                    if hit is not None and hit != resolve(mod):
                        found.add(hit)
                    elif (hit := resolve(mod)) is not None:
                        found.add(hit)
            visit(child)

    visit(tree)
    found.discard(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="workbench")
    parser.add_argument("--long", type=int, default=80, help="a long function has more lines")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    files = sorted(root.rglob("*.py"))
    names = {module_name(p, root): p for p in files}
    known = set(names)

    sizes = sorted(((len(p.read_text().splitlines()), n) for n, p in names.items()), reverse=True)
    print("largest modules:")
    for lines, n in sizes[:5]:
        print(f"  {lines:5d}  {n}")
    print(f"  total {sum(s for s, _ in sizes)} lines in {len(sizes)} modules")

    graph: dict[str, set[str]] = {}
    typed: dict[str, set[str]] = {}
    long_funcs = []
    for n, p in names.items():
        tree = ast.parse(p.read_text())
        graph[n] = imports_of(tree, n, p.name == "__init__.py", known)
        typed[n] = imports_of(tree, n, p.name == "__init__.py", known, typing=True)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > args.long:
                    long_funcs.append((length, f"{n}:{node.lineno} {node.name}"))
    print(f"functions over {args.long} lines: {len(long_funcs)}")
    for length, where in sorted(long_funcs, reverse=True):
        print(f"  {length:5d}  {where}")

    # A package's __init__ importing its own submodules (re-exports) is not a cycle of
    # design; count cycles among the modules that hold code.
    def strip(g: dict[str, set[str]]) -> dict[str, set[str]]:
        return {
            v: {w for w in ws if not (names[w].name == "__init__.py" and v.startswith(w + "."))}
            for v, ws in g.items()
        }

    for label, g in (("import cycles (run time)", graph), ("with TYPE_CHECKING imports", typed)):
        found = cycles(strip(g))
        print(f"{label}: {len(found)}")
        for comp in found:
            print("  " + " <-> ".join(comp))


if __name__ == "__main__":
    main()
