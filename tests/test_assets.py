"""Asset resolution: cache, explicit paths, hash checks and the offline PyPI fallback."""

import hashlib
import zipfile

import pytest

from workbench import assets
from workbench.errors import ModelAssetError


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    for asset in assets.ASSETS.values():
        monkeypatch.delenv(asset.env_var, raising=False)
    return cache


def test_unknown_asset_lists_valid_names():
    with pytest.raises(ValueError, match="valid names"):
        assets.asset_path("blaze_face")


def test_wrong_sha256_is_refused_for_explicit_path(isolated_cache, tmp_path):
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"x" * assets.ASSETS["blaze_face_short_range"].size)
    with pytest.raises(ModelAssetError, match="sha256"):
        assets.asset_path("blaze_face_short_range", path=bogus)


def test_wrong_size_is_refused_via_env(isolated_cache, tmp_path, monkeypatch):
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"short")
    monkeypatch.setenv("WORKBENCH_BLAZE_FACE_SHORT_RANGE", str(bogus))
    with pytest.raises(ModelAssetError, match="WORKBENCH_BLAZE_FACE_SHORT_RANGE"):
        assets.asset_path("blaze_face_short_range")


def test_corrupt_cache_entry_is_replaced(isolated_cache, monkeypatch):
    asset = assets.ASSETS["dlib_shape_predictor_5"]
    isolated_cache.mkdir(parents=True)
    (isolated_cache / asset.filename).write_bytes(b"corrupt")
    path = assets.asset_path(asset.name)
    assert assets.sha256_file(path) == asset.sha256


def test_nothing_reachable_says_what_was_tried(isolated_cache, monkeypatch):
    def fail(*args, **kwargs):
        raise ModelAssetError("simulated: no network")

    monkeypatch.setattr(assets, "_download", fail)
    monkeypatch.setattr(assets, "_find_or_download_wheel", fail)
    with pytest.raises(ModelAssetError) as info:
        assets.asset_path("blaze_face_short_range")
    message = str(info.value)
    assert "download https://" in message and "PyPI wheel" in message
    assert "WORKBENCH_BLAZE_FACE_SHORT_RANGE" in message
    assert not list(isolated_cache.glob("*.tflite"))


def test_download_with_wrong_bytes_falls_back_to_wheel(isolated_cache, monkeypatch, tmp_path):
    """The official URL answering with other bytes must not poison the cache; the wheel
    copy (here a small stand-in wheel holding the real bytes) is used instead."""
    asset = assets.ASSETS["blaze_face_short_range"]
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "first"))
    payload = assets.asset_path(asset.name).read_bytes()
    monkeypatch.setenv("WORKBENCH_CACHE", str(isolated_cache))
    wheel = tmp_path / "mediapipe-0.10.21-cp311-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(asset.wheel_member, payload)
    monkeypatch.setattr(assets, "_download", lambda url: b"<html>not the model</html>")
    monkeypatch.setattr(assets, "_find_or_download_wheel", lambda: wheel)
    path = assets.asset_path(asset.name)
    assert path.parent == isolated_cache
    assert hashlib.sha256(path.read_bytes()).hexdigest() == asset.sha256
    assert not list(isolated_cache.glob(".*.part"))


def test_offline_fallback_reads_the_pypi_wheel(isolated_cache, monkeypatch):
    """The real offline path: no official download, the mediapipe 0.10.21 wheel fetched
    from PyPI by pip (or found in the wheel cache), the three models read from it."""
    default_wheels = assets.Path.home() / ".cache" / "workbench" / "wheels"
    cached = sorted(default_wheels.glob("mediapipe-0.10.21-*.whl"))
    if cached:
        # Reuse the wheel `make setup` already fetched instead of 35 MB again.
        (isolated_cache / "wheels").mkdir(parents=True)
        (isolated_cache / "wheels" / cached[0].name).symlink_to(cached[0])
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    for name in ("blaze_face_short_range", "blaze_face_full_range_sparse", "face_landmark"):
        path = assets.asset_path(name)
        assert path.parent == isolated_cache
        assert assets.sha256_file(path) == assets.ASSETS[name].sha256


def test_package_assets_resolve(isolated_cache):
    path = assets.asset_path("dlib_resnet_v1")
    assert path.stat().st_size == 22_466_066
