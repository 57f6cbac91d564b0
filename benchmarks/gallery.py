"""Gallery benchmarks: search at scale, the ANN library choice, LFW enrollment and open set.

Sub-commands:

``search``
    Random unit 128-D vectors enrolled through :class:`workbench.gallery.Gallery` (4 per
    person), at 10k, 100k and 1M. Per size: exact search (the baseline) and the faiss
    IVF index: single-query latency p50/p95, batched time per query, index build time
    and memory, recall@1 against exact search. Two query sets: *near* queries (an
    enrolled vector plus noise, about 0.4 away: a genuine probe) and *random* queries
    (a stranger, about 1.2 from everything); for strangers the figure that matters is
    whether the accept/reject decision agrees with exact search.
``libraries``
    The measurement behind the index choice, at one size: faiss IVF-Flat, faiss
    HNSW-Flat and usearch HNSW (f32), build time, memory, latency, recall@1 (near).
``lfw-enroll``
    ``Gallery.enroll_folder`` over LFW through the real pipeline (MediaPipe + Keras
    ResNet), images/s; the gallery it writes feeds ``lfw-openset``. ``--compare`` runs
    photo-by-photo embedding (the baseline) and batched embedding alternately in one
    process on the same folder (``--limit-people`` for a subset).
``lfw-openset``
    Open-set identification on LFW from the enrolled embeddings: one photo of each
    person with >= 2 photos enrolled, their other photos probe as known, photos of
    single-photo people probe as strangers. Rank-1 of the known and the stranger
    rejection rate at the default threshold and at a threshold calibrated on a disjoint
    calibration gallery; nearest face vs centroid on a second protocol with several
    photos enrolled per person.

``stores``
    The SQLite file against PostgreSQL (a throwaway local server, fsync on), per size:
    bulk enrollment (faces/s), open time in a fresh process, search p50, change
    propagation between processes (p50/p95 over 100 enrollments), four processes
    enrolling at once; see ``benchmarks/_stores.py``.

``changes``
    Another process's changes (enroll, rename, remove, in turn) seen by a searching
    process: p50/p95 over ``--changes`` at each ``--rates`` (changes/s), both stores, the
    code of ``--before`` (a tree, e.g. ``git archive`` of main before a change) and of
    this tree measured in one run; see ``benchmarks/_changes.py``.

``calibration``
    The threshold on the default path: the issue-10 protocol (30 LFW people x 2 photos)
    through ``workbench enroll`` / ``recognize`` alone against the fixed 0.6 (``--set``),
    the choice of the default target FAR, and a table by gallery size (1 to 1,000
    people) from precomputed embeddings (``--gallery``: the file ``lfw-enroll`` writes).

Run:
    .venv/bin/python benchmarks/gallery.py search [--sizes 10000 100000 1000000]
    .venv/bin/python benchmarks/gallery.py libraries [--size 100000]
    .venv/bin/python benchmarks/gallery.py stores [--sizes 10000 100000]
    .venv/bin/python benchmarks/gallery.py changes --before /tmp/base [--size 100000]
    .venv/bin/python benchmarks/gallery.py lfw-enroll --out /tmp/lfw_gallery.sqlite
    .venv/bin/python benchmarks/gallery.py lfw-enroll --compare --limit-people 600
    .venv/bin/python benchmarks/gallery.py lfw-openset --gallery /tmp/lfw_gallery.sqlite
    .venv/bin/python benchmarks/gallery.py calibration --gallery /tmp/lfw_gallery.sqlite
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import machine  # noqa: E402 - the script's folder is on sys.path

from workbench.gallery import Decision, FaceBatch, Gallery, IndexOptions

EXACT = IndexOptions(threshold=2**62)


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def unit(rng: np.random.Generator, n: int, dim: int = 128) -> np.ndarray:
    out = np.empty((n, dim), np.float32)
    for i in range(0, n, 100_000):
        x = rng.standard_normal((min(100_000, n - i), dim), dtype=np.float32)
        out[i : i + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def latencies(fn, queries: np.ndarray) -> tuple[float, float]:
    """p50, p95 in ms of ``fn(one query)`` over the queries, after 3 warm-up calls."""
    for q in queries[:3]:
        fn(q[None])
    times = []
    for q in queries:
        t = time.perf_counter()
        fn(q[None])
        times.append(time.perf_counter() - t)
    ms = np.array(times) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def fill(path: Path, vectors: np.ndarray, per_person: int = 4) -> float:
    """Enroll ``vectors`` as people of ``per_person`` faces; returns faces/s."""
    t = time.perf_counter()
    with Gallery(path, model_id="random-unit-128") as g:
        # Set by hand: the search figures compare decisions at dlib's 0.6, and enrollment
        # then skips re-deriving the threshold after each of these 4,000-people writes.
        g.set_threshold(0.6)
        step = 4000 * per_person
        for i in range(0, len(vectors), step):
            chunk = vectors[i : i + step]
            g.add_many(  # one transaction per 4000 people
                [
                    FaceBatch(f"p{i + j}", chunk[j : j + per_person])
                    for j in range(0, len(chunk), per_person)
                ]
            )
    return len(vectors) / (time.perf_counter() - t)


def bench_search(args) -> None:
    print(f"machine: {machine()}")
    print(
        "| faces | method | build s | RSS +MB | p50 ms | p95 ms | batch ms/query "
        "| recall@1 near | recall@1 random | decision agrees (random) |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        rng = np.random.default_rng(n)
        vectors = unit(rng, n)
        picks = rng.choice(n, args.queries, replace=False)
        noise = rng.standard_normal((args.queries, 128), dtype=np.float32)
        near = vectors[picks] + noise * (0.4 / np.sqrt(128)).astype(np.float32)
        strangers = unit(rng, args.queries)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "g.sqlite"
            rate = fill(path, vectors)
            del vectors
            t = time.perf_counter()
            # Nearest-face decision: the index holds every face (the centroid decision
            # indexes people, here 4 times fewer vectors).
            g = Gallery(
                path, model_id="random-unit-128", index=EXACT, decision=Decision.NEAREST_FACE
            )
            open_s = time.perf_counter() - t
            print(f"<!-- {n} faces: enrolled {rate:,.0f} faces/s, opened in {open_s:.1f} s -->")
            # Baseline: exact search.
            t = time.perf_counter()
            exact_near = g.search(near)
            exact_rand = g.search(strangers)
            batch_exact = (time.perf_counter() - t) / (2 * args.queries) * 1e3
            n_single = min(args.queries, max(20, int(2e7 / n)))
            p50, p95 = latencies(g.search, near[:n_single])
            print(
                f"| {n:,} | exact (baseline) | - | - | {p50:.3f} | {p95:.3f} | "
                f"{batch_exact:.3f} | 1 | 1 | 1 |"
            )
            for kind, nprobe in [(kind, p) for kind in args.index for p in args.nprobe]:
                g.index_options = IndexOptions(threshold=0, nprobe=nprobe, quantize=kind == "sq8")
                if nprobe == args.nprobe[0]:
                    g._ann[Decision.NEAREST_FACE].index = None  # build this kind afresh
                m0 = rss_mb()
                t = time.perf_counter()
                g.build_index()
                build = time.perf_counter() - t
                mem = rss_mb() - m0
                index = g._ann[Decision.NEAREST_FACE].index
                index.nprobe = nprobe
                t = time.perf_counter()
                ann_near = g.search(near)
                ann_rand = g.search(strangers)
                batch_ann = (time.perf_counter() - t) / (2 * args.queries) * 1e3
                p50, p95 = latencies(g.search, near)
                rec_near = np.mean(ann_near.names[:, 0] == exact_near.names[:, 0])
                rec_rand = np.mean(ann_rand.names[:, 0] == exact_rand.names[:, 0])
                agree = np.mean(ann_rand.accepted[:, 0] == exact_rand.accepted[:, 0])
                built = f"{build:.1f} | {mem:.0f}" if build > 0.05 else "(same) | (same)"
                name = "IVF-SQ8 + exact re-rank" if kind == "sq8" else "IVF-Flat"
                print(
                    f"| {n:,} | faiss {name}, {index.nlist} lists, nprobe {nprobe} | "
                    f"{built} | {p50:.3f} | {p95:.3f} | {batch_ann:.3f} | "
                    f"{rec_near:.4f} | {rec_rand:.3f} | {agree:.3f} |",
                    flush=True,
                )
                # The next nprobe reuses the cells: only nprobe changes.
            g.close()


def bench_libraries(args) -> None:
    import faiss
    from usearch.index import Index

    print(f"machine: {machine()}, usearch {__import__('usearch').__version__}")
    n = args.size
    rng = np.random.default_rng(0)
    db = unit(rng, n)
    picks = rng.choice(n, args.queries, replace=False)
    noise = rng.standard_normal((args.queries, 128), dtype=np.float32)
    near = db[picks] + noise * np.float32(0.4 / np.sqrt(128))
    sq = np.einsum("ij,ij->i", db, db)
    truth = np.array([np.argmin(sq - 2 * db @ q) for q in near])
    print("| library / index | build s | memory MB | p50 ms | p95 ms | recall@1 near |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")

    def report(label, build, mem, search):
        p50, p95 = latencies(lambda q: search(q), near)
        found = np.array([search(q[None]) for q in near])
        print(
            f"| {label} | {build:.1f} | {mem:.0f} | {p50:.3f} | {p95:.3f} | "
            f"{np.mean(found == truth):.4f} |",
            flush=True,
        )

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    m0, t = rss_mb(), time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(128), 128, int(4 * np.sqrt(n)))
    ivf.train(db[rng.choice(n, min(n, ivf.nlist * 48), replace=False)])
    ivf.add(db)
    build, mem = time.perf_counter() - t, rss_mb() - m0
    for nprobe in (16, 32, 64):
        ivf.nprobe = nprobe
        report(
            f"faiss IVF-Flat {ivf.nlist} lists, nprobe {nprobe}",
            build,
            mem,
            lambda q: ivf.search(q, 1)[1][0, 0],
        )
    ivf = None  # free it before the next build
    m0, t = rss_mb(), time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(128, 32)
    hnsw.hnsw.efConstruction = 128
    hnsw.add(db)
    build, mem = time.perf_counter() - t, rss_mb() - m0
    for ef in (32, 64):
        hnsw.hnsw.efSearch = ef
        report(
            f"faiss HNSW-Flat M=32, efSearch {ef}",
            build,
            mem,
            lambda q: hnsw.search(q, 1)[1][0, 0],
        )
    hnsw = None
    m0, t = rss_mb(), time.perf_counter()
    us = Index(ndim=128, metric="l2sq", dtype="f32", connectivity=16, expansion_add=128)
    us.add(np.arange(n), db, threads=os.cpu_count() or 1)
    build, mem = time.perf_counter() - t, rss_mb() - m0
    for ef in (64, 128):
        us.expansion_search = ef
        report(
            f"usearch HNSW f32 M=16, expansion {ef}",
            build,
            mem,
            lambda q: us.search(q[0], 1, threads=1).keys[0],
        )


def bench_lfw_enroll(args) -> None:
    from workbench.data import shared_data_dir
    from workbench.recognize import open_recognizer

    lfw = Path(args.lfw) if args.lfw else (shared_data_dir() or Path("missing")) / "lfw"
    if not lfw.is_dir():
        raise SystemExit(f"LFW not found at {lfw}")
    folder = lfw
    if args.limit_people:
        # A subset: the first N people, linked into a temporary reference folder.
        folder = Path(tempfile.mkdtemp()) / "lfw_subset"
        folder.mkdir()
        for person in sorted(lfw.iterdir())[: args.limit_people]:
            (folder / person.name).symlink_to(person)
    out = Path(args.out)
    with open_recognizer(detector=args.detector) as rec:
        per_photo = _without_chips(rec)
        # Warm-up outside the timing: model build, and one trace per batch shape.
        warm = _load(sorted(next(lfw.iterdir()).iterdir())[0])
        rec.embed(warm, rec.detect(warm))
        for b in (2, 4, 8, 16, 32, 64):
            if b <= args.batch_size:
                rec.embedder.embed(np.zeros((b, 150, 150, 3), np.uint8))
        if args.compare:
            modes = ["per photo", "batched"] * args.repeat
        else:
            modes = ["per photo"] if args.per_photo else ["batched"]
        for i, mode in enumerate(modes):
            path = out if len(modes) == 1 else out.with_name(f"{out.stem}_{i}{out.suffix}")
            if path.exists():
                path.unlink()
            with Gallery(path, model_id=rec.embedder.model_id) as g:
                summary = g.enroll_folder(
                    folder,
                    recognizer=per_photo if mode == "per photo" else rec,
                    progress=not args.quiet,
                    batch_size=args.batch_size,
                )
            print(f"machine: {machine()}; detector {args.detector}; embedding {mode}")
            print(summary)
            print(f"images/s ({mode}): {summary.photos_seen / summary.seconds:.2f}", flush=True)


def _load(path):
    from workbench.images import load_image

    return load_image(path)


def _without_chips(rec):
    """The recognizer without ``chips``, so enroll_folder embeds photo by photo."""

    class _PerPhoto:
        def __init__(self, inner) -> None:
            self.detector, self.embedder = inner.detector, inner.embedder
            self.detect, self.embed = inner.detect, inner.embed

    return _PerPhoto(rec)


def _open_set(vectors, persons, enrolled, probes, known, decision, calibration) -> dict:
    """Enroll ``enrolled`` rows in a fresh gallery, set its threshold, probe it.

    ``calibration`` is ``("default", None)``, or ``(per, target_far)`` for
    ``Gallery.calibrate`` on the enrolled faces themselves (nothing of the probes).
    """
    with tempfile.TemporaryDirectory() as tmp:
        with Gallery(Path(tmp) / "g.sqlite", model_id="lfw", decision=decision) as g:
            g.set_threshold(0.6)  # the baseline row; a calibration row replaces it below
            by_person: dict[str, list[int]] = {}
            for i in enrolled:
                by_person.setdefault(persons[i], []).append(i)
            g.add_many([FaceBatch(p, vectors[rows]) for p, rows in by_person.items()])
            per, target = calibration
            frr = float("nan")
            if per != "default":
                frr = g.calibrate(target_far=target, per=per).frr
            threshold = g.threshold
            result = g.search(vectors[probes]).best()
    names = np.array([m.name for m in result], dtype=object)
    accepted = np.array([m.accepted for m in result])
    truth = np.array([persons[i] for i in probes], dtype=object)
    known = np.asarray(known)
    return {
        "threshold": threshold,
        "frr": frr,
        "rank1": np.mean(names[known] == truth[known]),
        "known_ok": np.mean(accepted[known] & (names[known] == truth[known])),
        "rejected": np.mean(~accepted[~known]),
    }


def bench_lfw_openset(args) -> None:
    with Gallery(args.gallery, model_id=None, create=False) as g:
        vectors, persons = g.embeddings()
    persons = np.array(persons, dtype=object)
    rng = np.random.default_rng(0)
    names, counts = np.unique(persons, return_counts=True)
    multi = sorted(names[counts >= 2])
    strangers = np.flatnonzero(np.isin(persons, names[counts == 1]))
    rows_by_person = {p: np.flatnonzero(persons == p) for p in multi}
    print(f"machine: {machine()}")
    print(
        f"embeddings: {len(vectors)} faces of {len(names)} people from {args.gallery}; "
        f"{len(multi)} people with >= 2 photos, {len(strangers)} single-photo people"
    )
    calibrations = [("default", None)]
    calibrations += [("stranger", far) for far in args.far]
    protocols = []
    for k in (1, args.enroll_k):
        enrolled, probes_known = [], []
        people = [p for p in multi if len(rows_by_person[p]) >= k + 1]
        for p in people:
            rows = rows_by_person[p].copy()
            rng.shuffle(rows)
            enrolled.extend(rows[:k])
            probes_known.extend(rows[k:])
        probes = np.r_[np.array(probes_known), strangers]
        known = np.r_[np.ones(len(probes_known), bool), np.zeros(len(strangers), bool)]
        label = (
            f"{k} photo{'s' if k > 1 else ''} x {len(people)} people; "
            f"{len(probes_known)} known + {len(strangers)} stranger probes"
        )
        decisions = [Decision.NEAREST_FACE] if k == 1 else list(Decision)
        cals = calibrations + ([("pair", 1e-3)] if k > 1 else [])
        protocols.append((label, enrolled, probes, known, decisions, cals))
    print(
        "| enrolled; probes | decision | threshold from | threshold | rank-1 (known) "
        "| known: accepted and right | strangers rejected |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for label, enrolled, probes, known, decisions, cals in protocols:
        for cal in cals:
            for decision in decisions:
                r = _open_set(vectors, persons, enrolled, probes, known, decision, cal)
                how = "dlib default" if cal[0] == "default" else f"calibrate(per={cal[0]!r}, "
                if cal[0] != "default":
                    how += f"target_far={cal[1]:g})"
                dec = "nearest face = centroid" if len(decisions) == 1 else decision.value
                print(
                    f"| {label} | {dec} | {how} | {r['threshold']:.3f} | {r['rank1']:.4f} | "
                    f"{r['known_ok']:.4f} | {r['rejected']:.4f} |",
                    flush=True,
                )


# ---------------------------------------------------------------- calibration on the default path


def _split_people(persons: np.ndarray, split: str) -> tuple[dict, np.ndarray, dict, np.ndarray]:
    """Rows by person for people with 2+ photos, and single-photo rows, on each side of
    ``split`` (the prior in ``workbench.gallery.calibrate`` was derived before it)."""
    names, counts = np.unique(persons, return_counts=True)
    rows = {p: np.flatnonzero(persons == p) for p in names[counts >= 2]}
    singles = np.flatnonzero(np.isin(persons, names[counts == 1]))
    after = {p: r for p, r in rows.items() if p.upper() >= split.upper()}
    singles_after = np.array([i for i in singles if persons[i].upper() >= split.upper()])
    return rows, singles, after, singles_after


def _draw(rng, pool: dict, n: int, *, min_photos: int):
    """``n`` people of ``pool`` with ``min_photos``+ photos: up to 2 enrolled (always one
    left to probe with), up to 2 of the rest as known probes."""
    names = sorted(p for p, r in pool.items() if len(r) >= min_photos)
    if n > len(names):
        raise SystemExit(f"only {len(names)} people with {min_photos}+ photos, cannot draw {n}")
    enrolled, probes = {}, []
    for p in rng.choice(names, n, replace=False):
        r = rng.permutation(pool[p])
        k = min(2, len(r) - 1)
        enrolled[p] = r[:k]
        probes.extend(r[k : k + 2])
    return enrolled, np.array(probes)


def _rates(names, dist, truth, known, t) -> tuple[float, float]:
    """(known named right, strangers called unknown) at threshold ``t``."""
    accepted = dist <= t
    right = np.mean(accepted[known] & (names[known] == truth[known]))
    return float(right), float(np.mean(~accepted[~known]))


def _cli(*argv: str) -> list[dict]:
    """Run ``workbench ARGV... --json`` in this process; its JSON lines."""
    import contextlib
    import io
    import json

    import workbench.cli as cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main([*argv, "--json"])
    if code != 0:
        raise SystemExit(f"workbench {' '.join(argv)} exited {code}")
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def bench_calibration_cli(args, vectors, persons, sources) -> None:
    """The issue's protocol through ``workbench enroll`` / ``recognize`` alone, on
    ``--cli-draws`` random draws of people (seeds ``--seed``, ``--seed + 1``, ...)."""
    print(
        f"CLI path: per draw, {args.cli_people} people x 2 photos enrolled by `workbench "
        f"enroll` (people N to Z with 4+ photos); `workbench recognize` on 2 other photos "
        f"of each + {args.cli_people} single-photo strangers (N to Z); the baseline is "
        "the same gallery after `workbench calibrate --set 0.6`."
    )
    print(
        "| draw (seed) | threshold | value | source | known named right "
        "| strangers called unknown | enroll s |"
    )
    print("| --- | --- | ---: | --- | ---: | ---: | ---: |")
    totals: dict[str, list] = {}
    for seed in range(args.seed, args.seed + args.cli_draws):
        for label, t, source, k, u, secs in _cli_draw(args, seed, vectors, persons, sources):
            print(f"| {seed} | {label} | {t:.3f} | {source} | {k:.1%} | {u:.1%} | {secs:.0f} |")
            totals.setdefault(label, []).append((k, u))
    for label, rows in totals.items():
        k, u = np.mean(rows, axis=0)
        both = np.mean([(a >= 0.95) & (b >= 0.95) for a, b in rows])
        print(
            f"| all {len(rows)} draws | {label} | | | {k:.1%} | {u:.1%} | "
            f"(both >= 95 % in {both:.0%} of draws) |",
            flush=True,
        )


def _cli_draw(args, seed, vectors, persons, sources) -> list[tuple]:
    import shutil

    rng = np.random.default_rng(seed)
    _, _, after, singles_after = _split_people(persons, args.split)
    enrolled, probes = _draw(rng, after, args.cli_people, min_photos=4)
    strangers = rng.choice(singles_after, args.cli_people, replace=False)
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "reference_images"
        for person, rows in enrolled.items():
            (ref / person).mkdir(parents=True)
            for i in rows:
                (ref / person / Path(sources[i]).name).symlink_to(sources[i])
        gallery = Path(tmp) / "gallery.sqlite"
        t = time.perf_counter()
        _cli("enroll", str(ref), "--gallery", str(gallery), "--quiet")
        enroll_s = time.perf_counter() - t
        fixed = Path(tmp) / "fixed.sqlite"
        shutil.copy(gallery, fixed)
        _cli("calibrate", "--gallery", str(fixed), "--set", "0.6")  # the baseline, by hand
        inputs = [sources[i] for i in np.r_[probes, strangers]]
        truth = np.array([persons[i] for i in probes] + [None] * len(strangers), dtype=object)
        known = np.r_[np.ones(len(probes), bool), np.zeros(len(strangers), bool)]
        rows = []
        for label, path in (("enroll's own", gallery), ("fixed 0.6 (baseline)", fixed)):
            lines = _cli("recognize", *inputs, "--gallery", str(path))
            names = np.array(
                [max(x["faces"], key=_area)["name"] if x["faces"] else None for x in lines],
                dtype=object,
            )
            ok_known = float(np.mean(names[known] == truth[known]))
            ok_strangers = float(np.mean(names[~known] == "unknown"))
            rows.append(
                (
                    label,
                    lines[0]["threshold"],
                    lines[0]["threshold_source"],
                    ok_known,
                    ok_strangers,
                    enroll_s,
                )
            )
    return rows


def _area(face: dict) -> float:
    x1, y1, x2, y2 = face["box"]
    return (x2 - x1) * (y2 - y1)


def bench_calibration_sizes(args, vectors, persons) -> None:
    """Galleries of N people enrolled from precomputed embeddings in one write (as a
    folder enrollment or an import does), the threshold left to the gallery."""
    from workbench.gallery.calibrate import (
        AUTO_MAX_PROBES,
        DEFAULT_TARGET_FAR,
        calibrate,
        prior_threshold,
    )

    rng = np.random.default_rng(args.seed + 1)
    rows_all, singles, after, singles_after = _split_people(persons, args.split)
    print(
        "\nSizes: per draw, N people (up to 2 photos enrolled, up to 2 others probe as "
        "known); strangers: every single-photo person. N <= 100: people and strangers N to "
        f"Z ({len(singles_after)} strangers; the prior was derived on A to M); N = 1000: "
        f"all LFW ({len(singles)} strangers). Mean over draws. Default target FAR "
        f"{DEFAULT_TARGET_FAR:g} per stranger."
    )
    print(
        "| people | draws | threshold source (default path) | threshold | known named right "
        "| strangers unknown | calibrated instead: known / strangers | prior instead: "
        f"known / strangers | fixed {args.fixed:g}: known / strangers | re-derive ms (median) |"
    )
    print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        big = n > 100
        pool, strangers = (rows_all, singles) if big else (after, singles_after)
        out = {k: [] for k in ("auto", "cal", "prior", "fixed")}
        thresholds, sources, ms = [], set(), []
        draws = max(3, min(args.draws, 6000 // n))
        for _ in range(draws):
            enrolled, probes = _draw(rng, pool, n, min_photos=2 if big else 3)
            q = np.r_[probes, strangers]
            truth = persons[q]
            known = np.r_[np.ones(len(probes), bool), np.zeros(len(strangers), bool)]
            with (
                tempfile.TemporaryDirectory() as tmp,
                Gallery(Path(tmp) / "g.sqlite", model_id=args.model_id, dim=vectors.shape[1]) as g,
            ):
                g.add_many([FaceBatch(p, vectors[r]) for p, r in enrolled.items()])
                info = g.threshold_info
                t0 = time.perf_counter()
                g.refresh_threshold()  # once more, timed: what each enrollment pays
                ms.append((time.perf_counter() - t0) * 1e3)
                best = g.search(vectors[q]).best()
                cal_t = float("nan")
                if n >= 2:  # what the gallery's own faces alone say, for comparison
                    cal_t = calibrate(g, store=False, max_probes=AUTO_MAX_PROBES).threshold
            names = np.array([m.name for m in best], dtype=object)
            dist = np.array([m.distance for m in best])
            thresholds.append(info.threshold)
            sources.add(info.source.split(" on ")[0].split(" for ")[0])
            out["auto"].append(_rates(names, dist, truth, known, info.threshold))
            out["cal"].append(_rates(names, dist, truth, known, cal_t))
            prior = prior_threshold(n, model_id=args.model_id)
            out["prior"].append(_rates(names, dist, truth, known, prior))
            out["fixed"].append(_rates(names, dist, truth, known, args.fixed))
        m = {k: np.mean(v, axis=0) for k, v in out.items()}
        pair = {k: f"{v[0]:.1%} / {v[1]:.1%}" for k, v in m.items()}
        if n < 2:
            pair["cal"] = "- (needs 2 people)"
        print(
            f"| {n:,} | {draws} | {' / '.join(sorted(sources))} | {np.mean(thresholds):.3f} | "
            f"{m['auto'][0]:.1%} | {m['auto'][1]:.1%} | {pair['cal']} | {pair['prior']} | "
            f"{pair['fixed']} | {np.median(ms):.1f} |",
            flush=True,
        )


def bench_calibration_targets(args, vectors, persons) -> None:
    """Which default target: 30 people x 2 photos, calibrated on their own faces."""
    rng = np.random.default_rng(args.seed + 2)
    _, _, after, singles_after = _split_people(persons, args.split)
    print(
        f"\nTargets: {args.draws} draws of {args.cli_people} people x 2 photos (N to Z), "
        f"2 other photos each as known probes, the {len(singles_after)} single-photo N to Z "
        "people as strangers; `refresh_threshold(target_far=F, force=True)` per draw. "
        "'both >= 95 %': share of draws where 30 strangers drawn from them would give "
        "at least 95 % known right and at least 95 % (29 of 30) strangers unknown."
    )
    print(
        "| target FAR | threshold (mean) | known named right | strangers unknown "
        "| both >= 95 % (30 strangers) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: |")
    results = {f: [] for f in args.targets}
    for _ in range(args.draws):
        enrolled, probes = _draw(rng, after, args.cli_people, min_photos=4)
        q = np.r_[probes, singles_after]
        truth = persons[q]
        known = np.r_[np.ones(len(probes), bool), np.zeros(len(singles_after), bool)]
        with (
            tempfile.TemporaryDirectory() as tmp,
            Gallery(Path(tmp) / "g.sqlite", model_id=args.model_id, dim=vectors.shape[1]) as g,
        ):
            g.add_many([FaceBatch(p, vectors[r]) for p, r in enrolled.items()])
            best = g.search(vectors[q]).best()
            names = np.array([m.name for m in best], dtype=object)
            dist = np.array([m.distance for m in best])
            for f in args.targets:
                t = g.refresh_threshold(target_far=f, force=True).threshold
                k, u = _rates(names, dist, truth, known, t)
                # 30 strangers of them: P(at most 1 named) under the measured rate.
                p_ok = u**30 + 30 * (1 - u) * u**29
                results[f].append((t, k, u, p_ok * (k >= 0.95)))
    for f, rows in results.items():
        r = np.mean(rows, axis=0)
        print(f"| {f:g} | {r[0]:.3f} | {r[1]:.1%} | {r[2]:.1%} | {r[3]:.0%} |", flush=True)


def bench_calibration(args) -> None:
    args.model_id, args.fixed = "lfw", 0.6
    if str(args.gallery).endswith(".npz"):
        # Vectors without photos (benchmarks/lfw_fusion.py --prior-vectors: the fused
        # embedder's): the sizes and targets parts only, under a fused model id so the
        # gallery takes the fused prior; "fixed" is the fused default threshold.
        from workbench.embed.fused import FUSED_THRESHOLD

        z = np.load(args.gallery)
        vectors, persons, sources = z["vectors"], list(z["persons"]), None
        args.parts = [p for p in args.parts if p != "cli"]
        if vectors.shape[1] == 320:
            args.model_id, args.fixed = "fused-lfw", FUSED_THRESHOLD
    else:
        with Gallery(args.gallery, model_id=None, create=False) as g:
            vectors, persons = g.embeddings()
            sources = [f.source for f in g.faces()]
    persons = np.array(persons, dtype=object)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print(f"embeddings: {len(vectors)} LFW faces from {args.gallery} (computed once)")
    if "cli" in args.parts:
        bench_calibration_cli(args, vectors, persons, sources)
    if "targets" in args.parts:
        bench_calibration_targets(args, vectors, persons)
    if "sizes" in args.parts:
        bench_calibration_sizes(args, vectors, persons)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


class _Matches:
    """Equal to any stored checksum: opening with the row checks switched off."""

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


def _open_seconds(path: Path, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        Gallery(path, model_id="random-unit-128").close()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def bench_open(args) -> None:
    """What the safety checks cost: opening (every row's checksum, integrity_check) and
    searching (a PRAGMA data_version check first), each against the same code with the
    check switched off, measured in the same run."""
    from unittest import mock

    from workbench.gallery import core, store

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print("| faces | file MB | open, checked (s) | open, checks off (s) | search p50 checked "
          "(ms) | search p50, no freshness check (ms) |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    rng = np.random.default_rng(0)
    real_check = store.quick_check
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "g.sqlite"
            vectors = unit(rng, n)
            fill(path, vectors)
            checked = _open_seconds(path)
            with (
                mock.patch.object(store.integrity, "checksum", lambda *a, **k: _Matches()),
                mock.patch.object(store, "quick_check", lambda c, p, full=False: real_check(c, p)),
            ):
                unchecked = _open_seconds(path)
            queries = unit(rng, 200)
            with Gallery(path, model_id="random-unit-128", index=EXACT) as g:
                fresh = latencies(g.search, queries)[0]
                with mock.patch.object(core.Gallery, "_fresh", lambda self: self._state):
                    stale = latencies(g.search, queries)[0]
            mb = path.stat().st_size / 2**20
            cells = f"{checked:.2f} | {unchecked:.2f} | {fresh:.3f} | {stale:.3f}"
            print(f"| {n:,} | {mb:.0f} | {cells} |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def _bench_stores(args) -> None:
    from _stores import bench_stores

    bench_stores(args)


def _bench_changes(args) -> None:
    from _changes import bench_changes

    bench_changes(args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("search")
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--nprobe", type=int, nargs="+", default=[64])
    p.add_argument("--index", nargs="+", default=["sq8"], choices=["sq8", "flat"])
    p.set_defaults(func=bench_search)
    p = sub.add_parser("open", help="cost of the checks on open and on search")
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.set_defaults(func=bench_open)
    p = sub.add_parser("stores", help="SQLite file against PostgreSQL (benchmarks/_stores.py)")
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    p.add_argument("--stores", nargs="+", default=["sqlite", "postgres"])
    p.add_argument("--changes", type=int, default=100, help="enrollments timed for propagation")
    p.add_argument("--interval", type=float, default=0.05, help="seconds between them")
    p.add_argument("--writer-faces", type=int, default=50, help="per writer, four at once")
    p.add_argument("--decision", default="centroid", choices=["centroid", "nearest_face"])
    p.set_defaults(func=_bench_stores)
    p = sub.add_parser(
        "changes", help="another process's changes seen, two trees (benchmarks/_changes.py)"
    )
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--stores", nargs="+", default=["sqlite", "postgres"])
    p.add_argument("--changes", type=int, default=100)
    p.add_argument("--rates", type=float, nargs="+", default=[4.0, 20.0, 50.0])
    p.add_argument("--before", required=True, help="tree of the code to compare against")
    p.add_argument("--after", default=str(Path(__file__).resolve().parents[1]))
    p.set_defaults(func=_bench_changes)
    p = sub.add_parser("libraries")
    p.add_argument("--size", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=500)
    p.set_defaults(func=bench_libraries)
    p = sub.add_parser("lfw-enroll")
    p.add_argument("--lfw", default=None)
    p.add_argument("--out", default="/tmp/lfw_gallery.sqlite")
    p.add_argument("--detector", default="mediapipe")
    p.add_argument("--limit-people", type=int, default=None)
    p.add_argument("--per-photo", action="store_true", help="embed photo by photo (baseline)")
    p.add_argument(
        "--compare", action="store_true", help="per photo and batched, alternating, one process"
    )
    p.add_argument("--repeat", type=int, default=2, help="with --compare: rounds of each")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=bench_lfw_enroll)
    p = sub.add_parser("lfw-openset")
    p.add_argument("--gallery", default="/tmp/lfw_gallery.sqlite")
    p.add_argument("--far", type=float, nargs="+", default=[0.05, 0.01])
    p.add_argument("--enroll-k", type=int, default=3)
    p.set_defaults(func=bench_lfw_openset)
    p = sub.add_parser("calibration")
    p.add_argument("--gallery", default="/tmp/lfw_gallery.sqlite")
    p.add_argument("--parts", nargs="+", default=["cli", "targets", "sizes"])
    p.add_argument("--split", default="N")
    p.add_argument("--cli-people", type=int, default=30)
    p.add_argument("--cli-draws", type=int, default=5)
    p.add_argument("--sizes", type=int, nargs="+", default=[3, 10, 30, 100, 1000])
    p.add_argument("--targets", type=float, nargs="+", default=[0.01, 0.02, 0.03, 0.05])
    p.add_argument("--draws", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=bench_calibration)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
