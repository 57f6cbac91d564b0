"""The face mesh (workbench.mesh) on real LFW faces: points, pose, errors, quiet logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workbench.errors import InvalidArgumentError
from workbench.faces import FaceDetections
from workbench.images import load_image
from workbench.mesh import FaceMesh, FaceMeshes, pose_angles
from workbench.native_logs import VERBOSE_ENV

#: A frontal face and a face turned far towards the image's left (checked by eye).
FRONTAL = "George_W_Bush/George_W_Bush_0006.jpg"
TURNED_LEFT = "George_W_Bush/George_W_Bush_0004.jpg"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mesh():
    with FaceMesh() as m:
        yield m


def _run(mesh, detector, image):
    faces = detector.detect(image)
    assert len(faces) == 1
    return faces, mesh.run(image, faces)


def test_frontal_face_has_small_angles_and_points_on_the_face(lfw_dir, mediapipe_detector, mesh):
    image = load_image(lfw_dir / FRONTAL)
    faces, meshes = _run(mesh, mediapipe_detector, image)
    assert isinstance(meshes, FaceMeshes) and len(meshes) == 1
    assert meshes.points.shape == (1, 468, 3) and meshes.points.dtype == np.float32
    assert meshes.scores[0] > 0.9
    assert abs(meshes.yaw[0]) < 8 and abs(meshes.roll[0]) < 8
    x1, y1, x2, y2 = faces.xyxy[0]
    xy = meshes.points[0, :, :2]
    w = x2 - x1
    assert (xy[:, 0] > x1 - w / 2).all() and (xy[:, 0] < x2 + w / 2).all()
    # The mesh's eye centres and nose tip agree with BlazeFace's own points.
    eye_span = np.linalg.norm(faces.keypoints[0, 1] - faces.keypoints[0, 0])
    err = np.linalg.norm(meshes.keypoints[0, :3] - faces.keypoints[0, :3], axis=1)
    assert (err < 0.25 * eye_span).all(), err / eye_span


def test_a_mirror_image_gets_the_opposite_yaw(lfw_dir, mediapipe_detector, mesh):
    image = load_image(lfw_dir / TURNED_LEFT)
    _, turned = _run(mesh, mediapipe_detector, image)
    _, mirrored = _run(mesh, mediapipe_detector, np.ascontiguousarray(image[:, ::-1]))
    assert turned.yaw[0] < -25
    assert mirrored.yaw[0] > 25
    assert abs(turned.yaw[0] + mirrored.yaw[0]) < 6
    # Roll flips sign with the mirror too; pitch does not.
    assert abs(turned.pitch[0] - mirrored.pitch[0]) < 6


def test_mtcnn_boxes_and_two_passes_give_the_same_pose(lfw_dir, mtcnn_detector, mesh):
    image = load_image(lfw_dir / TURNED_LEFT)
    faces, one = _run(mesh, mtcnn_detector, image)
    with FaceMesh(passes=2) as twice:
        two = twice.run(image, faces)
    assert one.yaw[0] < -25 and two.yaw[0] < -25
    assert abs(one.yaw[0] - two.yaw[0]) < 8


def test_a_degenerate_box_gives_no_pose_instead_of_an_error(lfw_dir, mesh):
    faces = FaceDetections(
        np.array([[10, 10, 10, 10]], np.float32),
        np.ones(1, np.float32),
        np.full((1, 5, 2), 10, np.float32),
    )
    meshes = mesh.run(load_image(lfw_dir / FRONTAL), faces)
    assert len(meshes) == 1 and np.isnan(meshes.yaw[0]) and meshes.scores[0] == 0


def test_no_faces_give_an_empty_result(lfw_dir, mesh):
    meshes = mesh.run(load_image(lfw_dir / FRONTAL), FaceDetections.empty())
    assert len(meshes) == 0 and meshes.keypoints.shape == (0, 5, 2)


def test_pose_of_a_known_rotation():
    """A flat symmetric mesh turned by known angles reads those angles back."""
    rng = np.random.default_rng(0)
    from workbench.mesh import CHIN, FOREHEAD, MIRRORED

    pts = np.zeros((468, 3))
    for left, right in MIRRORED:
        x, y = rng.uniform(10, 60), rng.uniform(-50, 50)
        pts[left], pts[right] = (-x, y, 0), (x, y, 0)
    pts[FOREHEAD], pts[CHIN] = (0, -80, 0), (0, 90, 0)
    yaw = np.radians(30)
    rot = np.array([[np.cos(yaw), 0, -np.sin(yaw)], [0, 1, 0], [np.sin(yaw), 0, np.cos(yaw)]])
    got = pose_angles(pts @ rot.T)
    np.testing.assert_allclose(got, (30, 0, 0), atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"passes": 3}, "passes"), ({"num_threads": 0}, "num_threads")],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        FaceMesh(**kwargs)


def test_bad_detections_and_closed_mesh_are_refused(lfw_dir):
    image = load_image(lfw_dir / FRONTAL)
    mesh = FaceMesh()
    with pytest.raises(InvalidArgumentError, match="FaceDetections"):
        mesh.run(image, np.zeros((1, 4)))
    mesh.close()
    with pytest.raises(InvalidArgumentError, match="closed"):
        mesh.run(image, FaceDetections.empty())


@pytest.mark.parametrize("verbose", [False, True])
def test_loading_and_running_write_no_log_lines(lfw_dir, mediapipe_detector, verbose):
    """In a fresh process (LiteRT logs its XNNPACK line once per process): nothing on
    stderr, and with WORKBENCH_VERBOSE=1 the line does come through, so the check can fail."""
    faces = mediapipe_detector.detect(load_image(lfw_dir / FRONTAL))
    code = (
        "import numpy as np\n"
        "from workbench.faces import FaceDetections\n"
        "from workbench.mesh import FaceMesh\n"
        f"faces = FaceDetections(np.array({faces.xyxy.tolist()}, np.float32), "
        f"np.array({faces.scores.tolist()}, np.float32), "
        f"np.array({faces.keypoints.tolist()}, np.float32))\n"
        "with FaceMesh() as mesh:\n"
        f"    print(round(float(mesh.run({str(lfw_dir / FRONTAL)!r}, faces).yaw[0])))\n"
    )
    env = {**os.environ, VERBOSE_ENV: "1" if verbose else "0"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert abs(int(proc.stdout)) < 8
    if verbose:
        assert "XNNPACK" in proc.stderr
    else:
        assert proc.stderr == ""
