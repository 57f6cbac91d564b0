"""The gallery fuzz corpus at large counts, with the checks this package added switched
off as the baseline measured in the same run.

Corpus and judge: ``tests/fuzz/gallery_corpus.py`` (``make test`` runs it at 300 cases):
a seed gallery with one to eight bits or one byte changed, and the seed export with bits
flipped or one field made hostile. Verdicts: ``refused`` (a clean ``GalleryError``),
``same`` (read back exactly as the seed), ``silent`` (changed without a word, or a
hostile field accepted), ``crash`` (any other exception).

Baseline, same cases: the same code with row checksums and ``integrity_check`` off
(``quick_check`` only, as before issue 16; the finite / unit-scale checks on load and
the import checks stay on), and without the extra enrollment after opening; on the
damaged galleries only (an import writes checksums, which the baseline cannot).

Cases run in ``--workers`` processes, each over its own range of case indices; any case
can be remade alone from ``--seed`` and its index (``gallery_corpus.generate``).

Run:
    .venv/bin/python benchmarks/fuzz_gallery.py --count 5000 [--seed 0] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import gallery_corpus as corpus  # noqa: E402
from _machine import machine  # noqa: E402


class _Matches:
    """Equal to any stored checksum: the baseline's checksums never fail."""

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


def _without_checks() -> ExitStack:
    from workbench.gallery import store

    real_check = store.quick_check
    stack = ExitStack()
    stack.enter_context(mock.patch.object(store.integrity, "checksum", lambda *a, **k: _Matches()))
    stack.enter_context(
        mock.patch.object(store, "quick_check", lambda c, p, full=False: real_check(c, p))
    )
    return stack


def _run_range(seed: int, start: int, stop: int) -> tuple[corpus.Tally, corpus.Tally]:
    seeds = corpus.make_seeds()
    ours, base = corpus.Tally(), corpus.Tally()
    with tempfile.TemporaryDirectory() as tmp:
        for case in corpus.generate(seeds, count=stop - start, seed=seed, start=start):
            ours.record(case, corpus.judge(case, seeds, Path(tmp)))
            if case.kind == "gallery":  # imports write checksums: no baseline for them
                with _without_checks():
                    base.record(case, corpus.judge(case, seeds, Path(tmp), write=False))
    return ours, base


def _merge(into: corpus.Tally, part: corpus.Tally) -> None:
    into.kinds.update(part.kinds)
    into.by_kind.update(part.by_kind)
    into.seconds += part.seconds
    for k, v in part.examples.items():
        into.examples.setdefault(k, []).extend(v)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=5000, help="cases (default 5000)")
    p.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = p.parse_args(argv)
    if args.count < 1 or args.workers < 1:
        p.error("--count and --workers must be >= 1")
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    step = -(-args.count // args.workers)
    ranges = [(s, min(s + step, args.count)) for s in range(0, args.count, step)]
    ours, base = corpus.Tally(), corpus.Tally()
    with ProcessPoolExecutor(len(ranges)) as pool:
        for o, b in pool.map(
            _run_range, *zip(*[(args.seed, a, z) for a, z in ranges], strict=True)
        ):
            _merge(ours, o)
            _merge(base, b)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    print(
        f"command: benchmarks/fuzz_gallery.py --count {args.count} --seed {args.seed} "
        f"--workers {args.workers}"
    )
    print(
        f"machine: {machine()}; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after; {wall:.1f} s wall, {args.count / wall:.0f} cases/s"
    )
    outcomes = ("refused", "same", "crash", "silent")
    print()
    print("| judge | case kind | tried | " + " | ".join(outcomes) + " | ms/case |")
    print("| --- | --- | ---: | " + " | ".join("---:" for _ in outcomes) + " |  ---: |")
    for name, t in (("gallery (this package)", ours), ("without row checksums", base)):
        for kind in corpus.KINDS if t is ours else ("gallery",):
            cells = [t.by_kind[kind, o] for o in outcomes]
            ms = 1000 * t.seconds / max(1, t.tried)
            print(
                f"| {name} | {kind} | {sum(cells)} | "
                + " | ".join(map(str, cells))
                + f" | {ms:.1f} |"
            )
    for name, t in (("ours", ours), ("baseline", base)):
        for kind in ("crash", "silent"):
            for line in t.examples.get(kind, [])[:8]:
                print(f"{name} {kind}: {line}")
    return 1 if ours.kinds["crash"] or ours.kinds["silent"] else 0


if __name__ == "__main__":
    sys.exit(main())
