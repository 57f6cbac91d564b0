"""``benchmarks/gallery.py stores``: the SQLite file against PostgreSQL, measured in one run.

Per store, at each size: bulk enrollment of random unit 128-D embeddings (faces/s,
4 per person, one transaction per 16,000 faces), open time in a fresh process, search
latency (exact and the faiss index: the same in-memory code for both stores, so the
figure shows what the store adds: the freshness check), change propagation from a
writer process to a reader process (p50/p95 over 100 enrollments), and four processes
enrolling different people at once (nothing lost, no error).

The approximate index (past 20,000 vectors, issue 14 item 3): a first fresh process
opens the gallery and builds the index (what every process did before the index was
kept: the baseline, measured in the same run) and keeps it; a second fresh process opens
and reads it back; after the propagation and four-writer runs added 300 faces, a third
reads it back and adds them. Search latency is measured in the first (index built in
the process) and the second (index read back).

The PostgreSQL server is a throwaway one on this machine (workbench/testing/pgcluster.py)
with PostgreSQL's default durability (fsync on), reached over TCP on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# A writer process: enrolls person k, prints the wall time of each commit.
_WRITER = """
import sys, time, numpy as np
from workbench.gallery import Gallery
loc, n, tag, pause = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
rng = np.random.default_rng(abs(hash(tag)) % 2**32)
with Gallery(loc, model_id="random-unit-128") as g:
    print("ready", flush=True)
    sys.stdin.readline()
    for k in range(n):
        v = rng.standard_normal((1, 128)).astype(np.float32)
        v /= np.linalg.norm(v)
        g.add_embeddings(f"{tag}{k}", v)
        print(time.time(), flush=True)
        time.sleep(pause)
"""

_OPEN = """
import sys, time
t = time.perf_counter()
from workbench.gallery import Gallery
g = Gallery(sys.argv[1], model_id="random-unit-128")
n = len(g)
print(time.perf_counter() - t, n)
"""


# A fresh process: open, bring the approximate index up (build or read back), search.
_OPEN_INDEX = """
import json, sys, time
import numpy as np
t0 = time.perf_counter()
from workbench.gallery import Gallery, IndexOptions
g = Gallery(sys.argv[1], model_id="random-unit-128", decision=sys.argv[3])
t1 = time.perf_counter()
queries = np.load(sys.argv[2])
exact = []
if sys.argv[4] == "exact":  # the exact baseline, on the same snapshot
    g._search.options = IndexOptions(threshold=2**62)
    for q in queries[:50]:
        s = time.perf_counter(); g.search(q[None]); exact.append(time.perf_counter() - s)
    g._search.options = g.index_options
t2 = time.perf_counter()
g.build_index()
t3 = time.perf_counter()
for q in queries[:3]:
    g.search(q[None])
times = []
for q in queries:
    s = time.perf_counter(); g.search(q[None]); times.append(time.perf_counter() - s)
st = g.index_status
ms = np.array(times) * 1e3
print(json.dumps({
    "faces": len(g), "open_s": t1 - t0, "index_s": t3 - t2, "source": st.source,
    "detail": st.detail, "index_own_s": st.seconds, "added": st.added,
    "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
    "exact_p50_ms": float(np.percentile(np.array(exact) * 1e3, 50)) if exact else None,
}))
g.close()
"""


def open_with_index(location: str, queries: Path, *, decision: str, exact: bool) -> dict:
    """A fresh process: open time, time to bring the index up, search p50/p95."""
    proc = _python(
        _OPEN_INDEX,
        location,
        str(queries),
        decision,
        "exact" if exact else "-",
        stdout=subprocess.PIPE,
    )
    out, _ = proc.communicate(timeout=3600)
    if proc.returncode:
        raise RuntimeError(f"the open-and-index process failed ({proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def _python(code: str, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, text=True, **kw
    )  # fmt: skip


def open_fresh_process(location: str) -> float:
    proc = _python(_OPEN, location, stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=1800)
    return float(out.split()[0])


def propagation(location: str, count: int = 100, pause: float = 0.05) -> tuple[float, float]:
    """p50, p95 ms from a writer process's commit to this process's search seeing it."""
    from workbench.gallery import Gallery

    with Gallery(location, model_id="random-unit-128") as reader:
        before = len(reader)
        proc = _python(
            _WRITER,
            location,
            str(count),
            "w",
            str(pause),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write("\n")
        proc.stdin.flush()
        delays = []
        q = np.zeros((1, 128), np.float32)
        q[0, 0] = 1.0
        for k in range(count):
            committed = float(proc.stdout.readline())
            while len(reader) < before + k + 1:
                reader.search(q)  # what a live loop does each frame
                time.sleep(0.001)
            delays.append((time.time() - committed) * 1000)
        proc.wait(timeout=60)
    return float(np.percentile(delays, 50)), float(np.percentile(delays, 95))


def four_writers(location: str, per: int = 50) -> str:
    """Four processes enroll 50 different people each at once: lost or error?"""
    from workbench.gallery import Gallery

    with Gallery(location, model_id="random-unit-128") as g:
        before = len(g)
    procs = [
        _python(
            _WRITER,
            location,
            str(per),
            f"proc{i}-",
            "0.0",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("\n")
        p.stdin.flush()
    errors, first = 0, ""
    for p in procs:
        _, err = p.communicate(timeout=600)
        if p.returncode != 0 or "Error" in err:
            errors += 1
            first = first or err.strip().splitlines()[-1][:160]
    with Gallery(location, model_id="random-unit-128") as g:
        got = len(g) - before
        names = {n for n in g.people if n.startswith("proc")}
    return f"{got}/{4 * per} faces, {len(names)} people, {errors} errors" + (
        f" (first: {first})" if first else ""
    )


def bench_stores(args) -> None:
    from _machine import machine

    from workbench.testing.pgcluster import throwaway_cluster

    sys.path.insert(0, str(Path(__file__).parent))
    from gallery import fill, unit

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    rows = []
    with throwaway_cluster(durable=True) as cluster, tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            rng = np.random.default_rng(n)
            vectors = unit(rng, n)
            queries = unit(rng, 200)
            for store in args.stores:
                if store == "sqlite":
                    loc = str(Path(tmp) / f"g{n}.sqlite")
                else:
                    loc = cluster.create_database(f"g{n}")
                load0 = os.getloadavg()[0]
                rate = fill(loc, vectors)
                print(f"<!-- {store} {n}: enrolled {rate:,.0f} faces/s, load "
                      f"{os.getloadavg()[0]:.1f} -->", flush=True)  # fmt: skip
                opened = open_fresh_process(loc)
                qfile = Path(tmp) / "queries.npy"
                np.save(qfile, queries)
                # 1: no kept index yet: built here (the baseline) and kept.
                built = open_with_index(loc, qfile, decision=args.decision, exact=True)
                print(f"<!-- built: {json.dumps(built)} load {os.getloadavg()[0]:.1f} -->")
                # 2: a second fresh process reads it back.
                kept = open_with_index(loc, qfile, decision=args.decision, exact=False)
                print(f"<!-- kept: {json.dumps(kept)} load {os.getloadavg()[0]:.1f} -->")
                p50, p95 = propagation(loc, args.changes, args.interval)
                print(f"<!-- propagation {p50:.1f} / {p95:.1f} ms, load "
                      f"{os.getloadavg()[0]:.1f} -->", flush=True)  # fmt: skip
                writers = four_writers(loc, args.writer_faces)
                print(f"<!-- four writers: {writers}, load {os.getloadavg()[0]:.1f} -->")
                # 3: after those enrollments: read back, the new faces added to it.
                later = open_with_index(loc, qfile, decision=args.decision, exact=False)
                print(f"<!-- after: {json.dumps(later)} load {os.getloadavg()[0]:.1f} -->")
                row = {
                    "store": store,
                    "faces": n,
                    "enroll_faces_per_s": round(rate),
                    "open_fresh_process_s": round(opened, 2),
                    "search_exact_p50_ms": round(built["exact_p50_ms"], 3),
                    "index_built_s": round(built["index_own_s"], 1),
                    "index_build_and_keep_s": round(built["index_s"], 1),
                    "open_and_index_built_s": round(built["open_s"] + built["index_s"], 1),
                    "open_and_index_kept_s": round(kept["open_s"] + kept["index_s"], 2),
                    "index_read_back_s": round(kept["index_s"], 2),
                    "kept_source": kept["source"],
                    "search_index_p50_ms": round(built["p50_ms"], 3),
                    "search_index_p95_ms": round(built["p95_ms"], 3),
                    "search_kept_p50_ms": round(kept["p50_ms"], 3),
                    "search_kept_p95_ms": round(kept["p95_ms"], 3),
                    "propagation_p50_ms": round(p50, 1),
                    "propagation_p95_ms": round(p95, 1),
                    "four_writers": writers,
                    "after_changes_index_s": round(later["index_s"], 2),
                    "after_changes_source": f"{later['source']} (+{later['added']} faces)",
                    "load": f"{load0:.1f}-{os.getloadavg()[0]:.1f}",
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(
        "| store | faces | enroll (faces/s) | open, fresh process (s) | open + index "
        "built (s) | open + index kept (s) | search exact p50 (ms) | search p50/p95, index "
        "built (ms) | search p50/p95, index kept (ms) | change seen p50 / p95 (ms) | "
        "4 writers at once | a fresh open after those changes | load |"
    )
    print(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"
    )
    for r in rows:
        print(
            f"| {r['store']} | {r['faces']:,} | {r['enroll_faces_per_s']:,} | "
            f"{r['open_fresh_process_s']} | {r['open_and_index_built_s']} "
            f"(build {r['index_built_s']}) | {r['open_and_index_kept_s']} (read back "
            f"{r['index_read_back_s']}, {r['kept_source']}) | {r['search_exact_p50_ms']} | "
            f"{r['search_index_p50_ms']} / {r['search_index_p95_ms']} | "
            f"{r['search_kept_p50_ms']} / {r['search_kept_p95_ms']} | "
            f"{r['propagation_p50_ms']} / {r['propagation_p95_ms']} | {r['four_writers']} | "
            f"{r['after_changes_source']} in {r['after_changes_index_s']} s | {r['load']} |"
        )
