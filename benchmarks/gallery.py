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

Run:
    .venv/bin/python benchmarks/gallery.py search [--sizes 10000 100000 1000000]
    .venv/bin/python benchmarks/gallery.py libraries [--size 100000]
    .venv/bin/python benchmarks/gallery.py lfw-enroll --out /tmp/lfw_gallery.sqlite
    .venv/bin/python benchmarks/gallery.py lfw-enroll --compare --limit-people 600
    .venv/bin/python benchmarks/gallery.py lfw-openset --gallery /tmp/lfw_gallery.sqlite
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import machine  # noqa: E402 - the script's folder is on sys.path

from workbench.gallery import Decision, Gallery, IndexOptions

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
            g._add_many(  # one transaction per 4000 people
                [
                    (f"p{i + j}", chunk[j : j + per_person], None, None, None, None, None)
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
            g._add_many(
                [(p, vectors[rows], None, None, None, None, None) for p, rows in by_person.items()]
            )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("search")
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--nprobe", type=int, nargs="+", default=[64])
    p.add_argument("--index", nargs="+", default=["sq8"], choices=["sq8", "flat"])
    p.set_defaults(func=bench_search)
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
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
