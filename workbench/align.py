"""Five-point alignment: a face in a photo to the 150x150 chip the embedder was trained on.

dlib made the training chips of its face ResNet from its own 5-point shape predictor
(eye corners and the bottom of the nose) with ``get_face_chip(size=150, padding=0.25)``.
Our detectors give other points (eye centres, nose tip, mouth corners), so the chip
positions those points must land on were measured: ``scripts/derive_align_template.py``
runs dlib's predictor and chip transform and our detectors on LFW photos, maps each
detector's keypoints into dlib's chip and averages them. The results are
:data:`TEMPLATES`, one per detector, because MediaPipe's points (with mouth corners
estimated from the mouth centre) sit differently from MTCNN's.

A face is aligned by the weighted least-squares similarity transform (rotation, uniform
scale, translation; no shear, no mirror) from its five keypoints onto the template, with
the per-detector :data:`KEYPOINT_WEIGHTS` the same script chose, then a bilinear warp,
as dlib's ``extract_image_chip`` does. When the face is more than twice the chip's size
the image is first halved with a Gaussian pyramid (``cv2.pyrDown``), as dlib does with
``pyramid_down<2>``, so small chips of big faces are not aliased.

Align with the template of the detector that found the keypoints
(:func:`template_for`); the default is MTCNN's. On LFW View 2 (10-fold, 6,000 pairs) the
same embedder scores 99.02% +- 0.25 with MTCNN + this alignment (99.15% with the mirror
image averaged in), 98.98% +- 0.46 with MediaPipe (99.20%), and 98.73% +- 0.44 with
dlib's own HOG detector, 5-point predictor and ``get_face_chip`` (``face_recognition``);
``docs/benchmarks/align.md`` has the variants tried.

Example:
    >>> faces = detector.detect(image)  # doctest: +SKIP
    >>> chips = align_faces(image, faces, template=template_for(detector))  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from workbench.errors import InvalidArgumentError, InvalidImageError

#: Side of the chip in pixels.
CHIP_SIZE = 150

#: Where each detector's keypoints (left eye, right eye, nose, mouth left, mouth right;
#: image-left first) land in dlib's 150x150 chip, in chip pixels ``(x, y)``: the median
#: over 425 LFW photos of the keypoints mapped through dlib's own chip transform. The
#: photos are of people who do not appear in LFW View 2, so the LFW benchmark is scored
#: on faces the templates never saw. Made by ``.venv/bin/python
#: scripts/derive_align_template.py --images 450 --check 150``.
TEMPLATES: dict[str, np.ndarray] = {
    "mtcnn": np.array(
        [[46.96, 44.88], [100.60, 44.96], [73.74, 76.98], [49.89, 103.52], [97.21, 103.77]],
        np.float32,
    ),
    "mediapipe": np.array(
        [[46.65, 46.89], [102.74, 47.74], [73.87, 80.06], [49.29, 108.49], [98.72, 108.76]],
        np.float32,
    ),
}
#: Weight of each keypoint in the similarity fit, per template (the same script prints
#: them). MTCNN: equal, the plain least-squares fit through all five points. Weightings
#: that favour the eyes put the chips closer to dlib's (mean displacement 3.3 -> 1.9 px)
#: but use fewer points, so each photo's fit jitters more, and they scored no better on
#: LFW View 2 (10-fold, no flip: eyes 2, nose 0.5, mouth 0 with the earlier template
#: 98.85%, equal 99.10%; with this template eyes 3, nose 1, mouth 0 98.98%, equal
#: 99.02%). MediaPipe: its nose point scatters much more (median 8.2 px from the template
#: against MTCNN's 5.3) and its mouth corners are estimated from the mouth centre, so the
#: weighting closest to dlib's chips fits it better (98.98% against 98.90% equal). See
#: ``docs/benchmarks/align.md``.
KEYPOINT_WEIGHTS: dict[str, np.ndarray] = {
    "mtcnn": np.array([1.0, 1.0, 1.0, 1.0, 1.0]),
    "mediapipe": np.array([3.0, 3.0, 0.5, 0.25, 0.25]),
}
#: Template used when the caller does not name one.
DEFAULT_TEMPLATE = "mtcnn"


def similarity_transform(src: np.ndarray, dst: np.ndarray, weights=None) -> np.ndarray:
    """Least-squares similarity transform taking ``src`` points onto ``dst`` (Umeyama).

    Args:
        src: ``(n, 2)`` points, ``n >= 2``.
        dst: ``(n, 2)`` points.
        weights: ``(n,)`` non-negative weight of each point in the fit; equal if omitted.

    Returns:
        ``(2, 3)`` float64 matrix ``M`` with ``dst ~ M @ [x, y, 1]``; rotation and uniform
        scale only (unweighted, the same fit as dlib's ``find_similarity_transform``).
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mean_s, mean_d = w @ src, w @ dst
    s, d = src - mean_s, dst - mean_d
    var_s = w @ (s**2).sum(1)
    cov = (d * w[:, None]).T @ s
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1  # no reflections
    rot = u @ np.diag(sign) @ vt
    scale = (sigma * sign).sum() / var_s if var_s > 0 else 1.0
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mean_d - m[:, :2] @ mean_s
    return m


def template_for(detector) -> str:
    """The :data:`TEMPLATES` key for a detector instance or registry name.

    Keypoints of different detectors sit at different places on the face, so align with
    the template derived for the detector that found them. Unknown detectors get
    :data:`DEFAULT_TEMPLATE`.
    """
    if isinstance(detector, str):
        return detector if detector in TEMPLATES else DEFAULT_TEMPLATE
    from workbench.detect import DETECTORS

    for name, cls in DETECTORS.items():
        if isinstance(detector, cls) and name in TEMPLATES:
            return name
    return DEFAULT_TEMPLATE


def _template(template) -> np.ndarray:
    if isinstance(template, str):
        try:
            return TEMPLATES[template]
        except KeyError:
            raise InvalidArgumentError(
                f"unknown alignment template {template!r}; valid names: {sorted(TEMPLATES)}"
            ) from None
    arr = np.asarray(template, np.float64)
    if arr.shape != (5, 2) or not np.isfinite(arr).all():
        raise InvalidArgumentError(f"a template must be (5, 2) finite chip pixels, got {arr.shape}")
    return arr


def _check_image(image) -> np.ndarray:
    if (
        not isinstance(image, np.ndarray)
        or image.ndim != 3
        or image.shape[2] != 3
        or image.dtype != np.uint8
    ):
        found = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image)
        raise InvalidImageError(f"image must be an RGB uint8 array (H, W, 3), got {found}")
    return image


def _check_keypoints(keypoints) -> np.ndarray:
    kp = np.asarray(keypoints, np.float64)
    if kp.shape != (5, 2) or not np.isfinite(kp).all():
        raise InvalidArgumentError(
            f"keypoints must be (5, 2) finite pixels (left eye, right eye, nose, mouth left, "
            f"mouth right), got shape {kp.shape}"
        )
    if np.linalg.norm(kp[1] - kp[0]) < 1e-3:
        raise InvalidArgumentError("keypoints are degenerate: both eyes at the same place")
    return kp


def _weights(template, weights) -> np.ndarray | None:
    if weights is not None:
        w = np.asarray(weights, np.float64)
        if w.shape != (5,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise InvalidArgumentError(f"weights must be 5 non-negative numbers, got {weights!r}")
        return w
    return KEYPOINT_WEIGHTS.get(template) if isinstance(template, str) else None


def chip_transform(
    keypoints: np.ndarray, *, template=DEFAULT_TEMPLATE, weights=None, size: int = CHIP_SIZE
) -> np.ndarray:
    """The ``(2, 3)`` image-to-chip similarity for one face's ``(5, 2)`` keypoints.

    Args:
        keypoints: ``(5, 2)`` pixels.
        template: a key of :data:`TEMPLATES` or a ``(5, 2)`` array of 150x150 chip pixels.
        weights: ``(5,)`` weight of each point in the fit; defaults to the named template's
            :data:`KEYPOINT_WEIGHTS` (equal for an array template).
        size: chip side; the template scales with it.
    """
    dst = _template(template) * (size / CHIP_SIZE)
    return similarity_transform(_check_keypoints(keypoints), dst, _weights(template, weights))


def align_face(
    image: np.ndarray,
    keypoints: np.ndarray,
    *,
    template=DEFAULT_TEMPLATE,
    weights=None,
    size: int = CHIP_SIZE,
) -> np.ndarray:
    """Cut one aligned face chip.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        keypoints: ``(5, 2)`` float pixels, in :data:`workbench.faces.KEYPOINT_NAMES` order.
        template: a key of :data:`TEMPLATES` (the detector that produced the keypoints)
            or a ``(5, 2)`` array of chip pixels for a 150x150 chip.
        weights: ``(5,)`` weight of each keypoint in the fit; defaults to the named
            template's :data:`KEYPOINT_WEIGHTS`.
        size: chip side; the template scales with it.

    Returns:
        ``(size, size, 3)`` uint8 RGB chip; parts outside the image are black.

    Raises:
        InvalidImageError: not an RGB uint8 array.
        InvalidArgumentError: keypoints or template of the wrong shape, or an unknown name.
    """
    image = _check_image(image)
    m = chip_transform(keypoints, template=template, weights=weights, size=size)
    return cut_chip(image, m, size=size)


def cut_chip(image: np.ndarray, m: np.ndarray, *, size: int = CHIP_SIZE) -> np.ndarray:
    """Warp ``image`` by the ``(2, 3)`` image-to-chip similarity ``m`` into a
    ``(size, size, 3)`` chip, halving big faces first as dlib does (see the module
    docstring); :func:`align_face` ends here, and so can a fit on other points."""
    import cv2

    image = _check_image(image)
    m = np.asarray(m, np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))  # chip pixels per image pixel

    src = image
    if scale < 0.5:
        # Work on the face's neighbourhood only, then halve it until a chip pixel covers
        # at most two image pixels (dlib's pyramid_down<2>), so the warp does not alias.
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], float)
        pts = corners @ inv.T
        margin = 4 / scale
        x0, y0 = np.floor(pts.min(0) - margin).astype(int)
        x1, y1 = np.ceil(pts.max(0) + margin).astype(int)
        h, w = image.shape[:2]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            src = image[y0:y1, x0:x1]
            m = m.copy()
            m[:, 2] += m[:, :2] @ np.array([x0, y0], float)
            while scale < 0.5 and min(src.shape[:2]) >= 4:
                # pyrDown maps pixel x to x/2 (centres at integer coordinates).
                src = cv2.pyrDown(src)
                m[:, :2] *= 2.0
                scale *= 2.0
    return cv2.warpAffine(
        np.ascontiguousarray(src),
        m,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def align_faces(image: np.ndarray, detections, *, template=DEFAULT_TEMPLATE) -> np.ndarray:
    """Aligned chips of every detected face.

    Args:
        image: ``(H, W, 3)`` uint8 RGB, the image the detections came from.
        detections: a :class:`workbench.faces.FaceDetections`.
        template: as in :func:`align_face`.

    Returns:
        ``(N, 150, 150, 3)`` uint8, in the detections' order (``N`` may be 0).
    """
    image = _check_image(image)
    keypoints = np.asarray(detections.keypoints)
    out = np.empty((len(keypoints), CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
    for i, kp in enumerate(keypoints):
        out[i] = align_face(image, kp, template=template)
    return out
