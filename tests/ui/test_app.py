"""WorkbenchApp without a browser: the tabs, and the explorer following the gallery."""

from __future__ import annotations

from workbench.ui.app import WorkbenchApp


def test_explore_tab_follows_the_gallery(gallery, recognizer, people, tmp_path):
    app = WorkbenchApp(
        gallery,
        detector=recognizer.detector,
        embedder=recognizer.embedder,
        photos_dir=tmp_path / "photos",
        camera=False,
    )
    try:
        assert [app.tabs.get_title(k) for k in range(3)] == ["Enroll and people", "Explore", "Live"]
        assert app.explorer is None
        assert "Enroll at least two people" in app.explore_box.children[0].value
        for name, photos in people.items():
            gallery.enroll(name, photos, recognizer=recognizer)
        app.tabs.selected_index = 1  # opening the tab rebuilds it from the gallery
        assert app.errors.last is None, app.errors.last
        assert app.explorer is not None and len(app.explorer.names) == len(gallery)
        assert app.explore_box.children == (app.explorer.widget,)
    finally:
        app.close()
