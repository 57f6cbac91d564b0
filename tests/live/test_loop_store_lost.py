"""The live loop over a PostgreSQL gallery whose server goes away and comes back: the
loop keeps naming from the gallery's last snapshot, its stats say the store is lost (one
outage), and it picks up again when the server returns."""

from __future__ import annotations

import time

import numpy as np

from workbench.live.loop import LiveRecognizer
from workbench.live.sources import IterableSource


def _frames(stop_after_s: float):
    t = time.monotonic()
    while time.monotonic() - t < stop_after_s:
        yield np.zeros((40, 40, 3), np.uint8)
        time.sleep(0.01)


def test_loop_names_from_the_snapshot_while_the_server_is_gone(kit, pg_cluster):
    # pg_cluster: the session's server, asked for only to skip where PostgreSQL is absent.
    from workbench.gallery import Gallery
    from workbench.testing.pgcluster import start_cluster

    class GalleryRecognizer(kit.Recognizer):
        def __init__(self, gallery, vector):
            super().__init__(names=("x",))
            self.gallery, self.vector = gallery, vector

        def identify(self, embeddings):
            return self.gallery.search(np.repeat(self.vector, len(embeddings), 0)).best()

    own = start_cluster()
    try:
        vector = np.full((1, 128), 0.05, np.float32)
        with Gallery(own.create_database("g"), model_id="m") as gallery:
            gallery.add_embeddings("Ada", vector)
            rec = GalleryRecognizer(gallery, vector)
            seen = []
            live = LiveRecognizer(
                IterableSource(_frames(12.0)), rec, on_result=lambda r: seen.append(r.names)
            )
            with live:
                time.sleep(1.0)
                own.stop(mode="fast")
                time.sleep(1.5)
                lost = live.stats()
                n_during = len(seen)
                own.start()
                deadline = time.monotonic() + 6
                while live.stats().gallery_problem and time.monotonic() < deadline:
                    time.sleep(0.1)
                back = live.stats()
            assert lost.gallery_problem and "PostgreSQL" in lost.gallery_problem
            assert back.gallery_problem is None and back.gallery_outages == 1
            # The first result awaits a second, agreeing recognition (TrackerOptions.agree).
            assert seen[0] == ("unknown",)
            assert n_during > 1 and all(tuple(names) == ("Ada",) for names in seen[1:]), seen[-3:]
    finally:
        own.remove()
