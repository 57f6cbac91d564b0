"""The app (``make app``): Voila serves the panels as one page without code; a person is
enrolled through it in headless Chromium, and the people table and the explorer tab
follow.

Voila is started as ``make app`` starts it (loopback, a token) against a temporary
gallery; every process is stopped at the end. The screenshot goes to ``artifacts/e2e/``
(it shows LFW faces, so it is not committed).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from workbench.data import PROJECT_ROOT
from workbench.testing.lab import (
    CHROMIUM,
    LabStartError,
    choose_files,
    chromium_flags,
    voila_app,
)

PERSON, SHOWN_AS = "Tony_Blair", "Tony Blair"
ARTIFACTS = PROJECT_ROOT / "artifacts" / "e2e"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    if shutil.which("voila", path=str(Path(__import__("sys").executable).parent)) is None:
        pytest.skip("voila is not installed (make setup installs it)")
    root = tmp_path_factory.mktemp("app")
    env = {"WORKBENCH_GALLERY": str(root / "gallery.sqlite"), "WORKBENCH_PHOTOS": str(root)}
    try:
        with voila_app(PROJECT_ROOT / "app" / "workbench.ipynb", workdir=root, env=env) as s:
            yield s
    except LabStartError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def page(app):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: the app test drives Debian's chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev extra")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=chromium_flags()
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1100})
            context.grant_permissions(["camera"])
            yield context.new_page()
        finally:
            browser.close()


def _button(page, label: str):
    return page.locator("button.widget-button", has_text=re.compile(rf"^\s*{label}\s*$"))


def test_enroll_a_person_through_the_app(app, page, lfw_dir: Path):
    photos = sorted((lfw_dir / PERSON).glob("*.jpg"))[:2]
    if len(photos) < 2:
        pytest.skip(f"{lfw_dir / PERSON} has fewer than 2 photos")
    try:
        page.goto(app.url("/"))
        page.get_by_text("Face recognition workbench").first.wait_for(timeout=180_000)
        _button(page, "Enroll").wait_for(timeout=180_000)
        # An app, not a notebook: no code on the page.
        assert "WorkbenchApp(" not in page.content()
        assert not page.locator(".cm-editor, .jp-CodeMirrorEditor").count()

        # The upload button opens the browser's file chooser (its <input> is made then).
        choose_files(page.locator("button.widget-upload", has_text="Upload photos").first, photos)
        page.get_by_text("2 photo(s) ready").wait_for(timeout=60_000)
        page.get_by_placeholder("name of the person").fill(SHOWN_AS)
        _button(page, "Enroll").click()
        page.get_by_text(f"enrolled 2 face(s) of {SHOWN_AS}").wait_for(timeout=60_000)
        page.get_by_text(re.compile(rf"{SHOWN_AS}\s*· 2 face\(s\)")).wait_for(timeout=30_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "app_enroll.png"))

        # The explorer tab is rebuilt from the gallery: one person is not enough yet.
        page.locator(".lm-TabBar-tab, .p-TabBar-tab", has_text="Explore").first.click()
        page.get_by_text("Enroll at least two people").wait_for(timeout=30_000)
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "app_failure.png"))
        raise
