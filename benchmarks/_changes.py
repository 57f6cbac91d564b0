"""``benchmarks/gallery.py changes``: how fast one process sees another's changes, the
code of two trees (before / after) measured in one run, on both stores.

Per store and tree: a gallery of ``--size`` random unit 128-D faces (4 per person),
filled by that tree's code; a reader process (that tree's code) searches one query in a
loop, as a live loop does each frame, and checks after each search which of the writer's
changes its snapshot shows; a writer process (that tree's code) makes ``--changes``
changes on a fixed schedule at each ``--rates`` (changes per second): a new person
enrolled, that person renamed, that person removed, in turn. The figure is the time from
a change's commit (the writer's clock, the same machine) to the first search that sees it:
p50 and p95 over all changes, and the p95 of each kind. A rate the writer itself cannot
keep is reported as the rate it reached.

The PostgreSQL server is a throwaway one on this machine (workbench/testing/pgcluster.py)
with PostgreSQL's default durability (fsync on), reached over TCP on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_FILL = """
import sys, time, numpy as np
from workbench.gallery import FaceBatch, Gallery
loc, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(n)
x = rng.standard_normal((n, 128), dtype=np.float32)
x /= np.linalg.norm(x, axis=1, keepdims=True)
t = time.perf_counter()
with Gallery(loc, model_id="random-unit-128") as g:
    g.set_threshold(0.6)  # by hand: no re-derivation after each write
    for i in range(0, n, 16000):
        people = range(i, min(i + 16000, n), 4)
        g.add_many([FaceBatch(f"p{j}", x[j : j + 4]) for j in people])
print(n / (time.perf_counter() - t))
"""

# Makes the changes on a schedule; prints "commit_time kind name" after each commit.
# The writer never searches: it keeps no approximate index (threshold out of reach), so
# a removal does not rewrite the kept index (a writer-side cost, not propagation's).
_WRITER = """
import sys, time, numpy as np
from workbench.gallery import Gallery, IndexOptions
loc, count, rate, tag = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(7)
with Gallery(loc, model_id="random-unit-128", index=IndexOptions(threshold=10**12)) as g:
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.time()
    for k in range(count):
        wait = start + k / rate - time.time()
        if wait > 0:
            time.sleep(wait)
        step, i = k % 3, k // 3
        if step == 0:
            v = rng.standard_normal((1, 128)).astype(np.float32)
            g.add_embeddings(f"{tag}new{i}", v / np.linalg.norm(v))
            kind, name = "add", f"{tag}new{i}"
        elif step == 1:
            g.rename(f"{tag}new{i}", f"{tag}renamed{i}")
            kind, name = "rename", f"{tag}renamed{i}"
        else:
            g.remove_person(f"{tag}renamed{i}")
            kind, name = "remove", f"{tag}renamed{i}"
        print(time.time(), kind, name, k, flush=True)
    took = time.time() - start
    # Not counted: shows the last changes' removal to a reader that skipped past them.
    g.add_embeddings(f"{tag}end", v / np.linalg.norm(v))
    print(time.time(), "marker", f"{tag}end", count, flush=True)
    print("done", took, flush=True)
"""

# Searches in a loop; reads the writer's lines on stdin; prints one JSON line at the end.
# The snapshot always holds a prefix of the writer's commits, so a change counts as seen
# when it, or any later change, shows: a person added, renamed and removed between two
# looks shows none of the three by itself (the next cycle's person shows all three).
_READER = """
import json, sys, threading, time, numpy as np
from workbench.gallery import Gallery
loc, count = sys.argv[1], int(sys.argv[2])
q = np.zeros((1, 128), np.float32); q[0, 0] = 1.0
lines, done = [], threading.Event()
def read():
    for line in sys.stdin:
        parts = line.split()
        if len(parts) == 4:
            lines.append((float(parts[0]), parts[1], parts[2]))
    done.set()
threading.Thread(target=read, daemon=True).start()
with Gallery(loc, model_id="random-unit-128") as g:
    print("ready", flush=True)
    pending, delays, seen_snapshot, names, started = [], [], None, set(), set()
    taken = 0
    while True:
        while taken < len(lines):
            pending.append(lines[taken]); taken += 1
        g.search(q)  # what a live loop does each frame: the freshness check included
        s = g.snapshot()
        if s is not seen_snapshot:
            seen_snapshot, names = s, set(s.people)
        now = time.time()
        last = -1
        for j, (t, kind, name) in enumerate(pending):
            cycle = name.replace("renamed", "new")
            if name in names:
                started.add(cycle)
            if kind == "remove":
                shows = cycle in started and name not in names and cycle not in names
            else:
                shows = name in names
            if shows:
                last = j
        for t, kind, name in pending[: last + 1]:
            if kind != "marker":
                delays.append((kind, (now - t) * 1000))
        pending = pending[last + 1 :]
        if done.is_set() and taken == len(lines) and not pending:
            break
        time.sleep(0.001)
print(json.dumps(delays), flush=True)
"""


def _python(tree: Path, code: str, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, **kw)


def _fill(tree: Path, loc: str, n: int) -> float:
    out = _python(tree, _FILL, loc, str(n), stdout=subprocess.PIPE).communicate(timeout=1800)[0]
    return float(out.split()[-1])


def _propagation(tree: Path, loc: str, count: int, rate: float, tag: str) -> dict:
    reader = _python(tree, _READER, loc, str(count), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert reader.stdout.readline().strip() == "ready"
    writer = _python(
        tree, _WRITER, loc, str(count), str(rate), tag, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert writer.stdout.readline().strip() == "ready"
    took = []

    def relay() -> None:  # the writer's lines to the reader, as they come
        for line in writer.stdout:
            if line.startswith("done"):
                took.append(float(line.split()[1]))
            reader.stdin.write(line)
            reader.stdin.flush()
        reader.stdin.close()

    t = threading.Thread(target=relay, daemon=True)
    load0 = os.getloadavg()[0]
    writer.stdin.write("\n")
    writer.stdin.flush()
    t.start()
    out = reader.stdout.read()  # not communicate(): that would close the reader's stdin
    reader.wait(timeout=60)
    writer.wait(timeout=60)
    t.join(timeout=10)
    delays = json.loads(out.strip().splitlines()[-1])

    def pct(values, q):
        import numpy as np

        return round(float(np.percentile(values, q)), 1) if values else None

    all_ms = [d for _, d in delays]
    row = {
        "rate_asked": rate,
        "rate_reached": round(count / took[0], 1) if took and took[0] else None,
        "seen": len(delays),
        "p50_ms": pct(all_ms, 50),
        "p95_ms": pct(all_ms, 95),
        "load": f"{load0:.1f}-{os.getloadavg()[0]:.1f}",
    }
    for kind in ("add", "rename", "remove"):
        row[f"{kind}_p95_ms"] = pct([d for k, d in delays if k == kind], 95)
    return row


def bench_changes(args) -> None:
    from _machine import machine

    from workbench.testing.pgcluster import throwaway_cluster

    trees = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print(f"trees: {json.dumps({k: str(v) for k, v in trees.items()})}")
    rows = []
    with throwaway_cluster(durable=True) as cluster, tempfile.TemporaryDirectory() as tmp:
        for store in args.stores:
            for label, tree in trees.items():
                if store == "sqlite":
                    loc = str(Path(tmp) / f"{label}.sqlite")
                else:
                    loc = cluster.create_database(f"changes_{label}")
                rate = _fill(tree, loc, args.size)
                for k, per_s in enumerate(args.rates):
                    row = _propagation(tree, loc, args.changes, per_s, f"r{k}")
                    row = {"store": store, "code": label, "faces": args.size, **row}
                    row["fill_faces_per_s"] = round(rate)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    print(
        "| store | code | faces | changes/s asked (reached) | seen | p50 ms | p95 ms | "
        "p95 add / rename / remove ms | load |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for r in rows:
        print(
            f"| {r['store']} | {r['code']} | {r['faces']:,} | {r['rate_asked']:g} "
            f"({r['rate_reached']}) | {r['seen']} | {r['p50_ms']} | {r['p95_ms']} | "
            f"{r['add_p95_ms']} / {r['rename_p95_ms']} / {r['remove_p95_ms']} | {r['load']} |"
        )
