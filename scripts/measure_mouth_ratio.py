"""Measure MTCNN's half mouth width over eye distance on LFW, and where BlazeFace's mouth
centre falls relative to MTCNN's corners; the ratio sets MOUTH_HALF_WIDTH in
workbench/detect/mediapipe_detector.py.

Run: .venv/bin/python scripts/measure_mouth_ratio.py [N]
"""

import sys

import numpy as np

from workbench.data import lfw_images
from workbench.detect import create_detector


def main(n: int = 300) -> None:
    paths = lfw_images()[:: max(1, 13233 // n)][:n]
    ratios = []
    with create_detector("mtcnn") as det:
        for faces in det.detect_batch(paths):
            if len(faces) != 1:
                continue
            kp = faces.keypoints[0]
            eye = np.linalg.norm(kp[1] - kp[0])
            mouth = np.linalg.norm(kp[4] - kp[3])
            ratios.append(mouth / 2 / eye)
    r = np.array(ratios)
    print(
        f"{len(r)} faces: half mouth width / eye distance = {r.mean():.3f} "
        f"(median {np.median(r):.3f}, std {r.std():.3f})"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
