"""Regenerate ``docs/img/06_people_to_name.png``: the people-to-name panel (notebook 06's
``PeoplePanel``) in headless Chromium, over a gallery whose unknown faces are drawn, not
photographed, so the committed image shows no real person's face.

The gallery is made here: a few cartoon "people" (an oval face, hair, eyes, a mouth, each
person with their own colours and hair; each face a little shifted, turned and lit
differently), their embeddings synthetic clusters in 128 dimensions (one person's faces
within about 0.2 of each other, people about 1.4 apart, so the panel's clustering finds
them), two faces seen once, and one enrolled person near one proposal so its card says
"looks like ...". JupyterLab runs the panel in a notebook (``workbench.testing.lab``, as
the browser tests do) and the panel's area is screenshotted.

Run: .venv/bin/python scripts/people_panel_screenshot.py [--out docs/img/06_people_to_name.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.testing.lab import CHROMIUM, chromium_flags, jupyter_lab, write_notebook  # noqa: E402

DIM = 128
#: (skin, hair, eyes, hair style) of each drawn person.
PEOPLE = [
    ((236, 200, 170), (60, 40, 30), (40, 90, 160), "short"),
    ((190, 140, 100), (20, 20, 20), (60, 40, 20), "long"),
    ((250, 220, 190), (200, 150, 60), (50, 120, 60), "curly"),
    ((140, 95, 65), (90, 90, 90), (30, 30, 30), "bald"),
]
FACES_EACH = (6, 5, 4, 3)
CELL = """
from workbench.gallery import Gallery
from workbench.ui.people import PeoplePanel

gallery = Gallery({path!r}, model_id=None, create=False)
panel = PeoplePanel(gallery)
panel.widget.add_class("wb-people-shot")
panel
"""


def drawn_face(person: int, variant: int, rng: np.random.Generator) -> np.ndarray:
    """A ``(150, 150, 3)`` uint8 cartoon face of drawn person ``person`` (no photo)."""
    from PIL import Image, ImageDraw, ImageEnhance

    skin, hair, eyes, style = PEOPLE[person]
    size = 300  # drawn at twice the chip's size, then shrunk: smoother edges
    img = Image.new("RGB", (size, size), tuple(int(c) for c in rng.integers(150, 235, 3)))
    d = ImageDraw.Draw(img)
    dx, dy = (int(v) for v in rng.integers(-14, 15, 2))
    cx, cy = 150 + dx, 160 + dy
    if style == "long":
        d.rounded_rectangle((cx - 95, cy - 105, cx + 95, cy + 120), 60, fill=hair)
    d.ellipse((cx - 75, cy - 95, cx + 75, cy + 100), fill=skin)
    if style == "short":
        d.chord((cx - 80, cy - 110, cx + 80, cy + 10), 180, 360, fill=hair)
    elif style == "long":
        d.chord((cx - 80, cy - 105, cx + 80, cy - 5), 180, 360, fill=hair)
    elif style == "curly":
        for k in range(9):
            a = np.pi * (1.05 + 0.9 * k / 8)
            x, y = cx + 78 * np.cos(a), cy - 30 + 78 * np.sin(a)
            d.ellipse((x - 26, y - 26, x + 26, y + 26), fill=hair)
    for side in (-1, 1):
        ex, ey = cx + side * 32, cy - 15
        d.ellipse((ex - 16, ey - 10, ex + 16, ey + 10), fill=(255, 255, 255))
        d.ellipse((ex - 7, ey - 7, ex + 7, ey + 7), fill=eyes)
        d.line((ex - 18, ey - 22, ex + 18, ey - 24 + side * 2), fill=hair, width=6)
    d.line((cx, cy - 5, cx - 8, cy + 30, cx + 6, cy + 32), fill=(120, 80, 60), width=4)
    smile = int(rng.integers(8, 30))
    d.arc(
        (cx - 35, cy + 35 - smile, cx + 35, cy + 55 + smile // 2),
        20,
        160,
        fill=(150, 40, 40),
        width=6,
    )
    img = img.rotate(
        float(rng.uniform(-8, 8)), resample=Image.BICUBIC, fillcolor=img.getpixel((2, 2))
    )
    img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.8, 1.15)))
    return np.asarray(img.resize((150, 150), Image.LANCZOS))


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def build_gallery(path: Path, *, seed: int = 0) -> None:
    """The synthetic gallery: drawn unknowns in clusters, one enrolled look-alike."""
    from workbench.gallery import Gallery

    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(len(PEOPLE) + 2, DIM)))
    vectors, chips, sources = [], [], []
    for p, n in enumerate(FACES_EACH):
        for v in range(n):
            vectors.append(unit(centres[p] + rng.normal(scale=0.012, size=DIM)))
            chips.append(drawn_face(p, v, rng))
            sources.append(f"drawn/person{p + 1}/{v + 1}.png")
    for k in range(2):  # seen once: a drawn person of their own
        vectors.append(centres[len(PEOPLE) + k])
        chips.append(drawn_face(k, 99, rng))
        sources.append(f"drawn/once{k + 1}.png")
    n = len(vectors)
    with Gallery(path, model_id="synthetic-drawn-faces") as gallery:
        # Enrolled, at about 0.55 from the second drawn person: "looks like" on that card.
        near = unit(centres[1] + 0.6 * unit(rng.normal(size=DIM)))
        gallery.add_embeddings("Ada", near[None])
        gallery.add_unknowns(
            np.stack(vectors),
            chips=np.stack(chips),
            source=sources,
            boxes=np.tile([0.0, 0.0, 150.0, 150.0], (n, 1)),
            scores=np.full(n, 0.95),
            detector="drawn",
        )


def shoot(gallery: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_notebook(root / "people.ipynb", [CELL.format(path=str(gallery))])
        env = {"PYTHONPATH": str(ROOT)}
        with jupyter_lab(root, workdir=root / "lab", env=env) as server, sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=chromium_flags()
            )
            try:
                page = browser.new_context(viewport={"width": 1100, "height": 1400}).new_page()
                page.goto(server.url("/lab/tree/people.ipynb?reset"))
                page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
                time.sleep(3)  # the kernel starts
                page.locator(".jp-NotebookPanel .jp-Cell").first.click()
                page.keyboard.press("Shift+Enter")
                panel = page.locator(".wb-people-shot")
                panel.wait_for(timeout=120_000)
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.wb-people-shot img')]"
                    ".every(i => i.complete && i.naturalWidth > 0)",
                    timeout=30_000,
                )
                panel.scroll_into_view_if_needed()
                time.sleep(1)
                out.parent.mkdir(parents=True, exist_ok=True)
                panel.screenshot(path=str(out))
            finally:
                browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "06_people_to_name.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gallery = Path(tmp) / "drawn.sqlite"
        build_gallery(gallery, seed=args.seed)
        shoot(gallery, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
