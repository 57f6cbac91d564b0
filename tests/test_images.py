import io
import os

import numpy as np
import pytest
from PIL import Image

from workbench.errors import InvalidImageError
from workbench.images import load_image, read_image_file


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@pytest.fixture
def rgb_image() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "mode",
    ["RGB", "L", "RGBA", "LA", "P", "CMYK", "I;16", "I", "F", "1"],
)
def test_every_mode_becomes_rgb_uint8(rgb_image, mode, tmp_path):
    img = (
        rgb_image.convert(mode)
        if mode not in ("I;16", "I", "F")
        else rgb_image.convert("L").convert(mode)
    )
    out = load_image(img)
    assert out.shape == (40, 60, 3)
    assert out.dtype == np.uint8
    assert out.flags["C_CONTIGUOUS"]


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    arr = np.full((8, 8), 40000, dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    out = load_image(path)
    assert out.shape == (8, 8, 3)
    assert abs(int(out[0, 0, 0]) - round(40000 / 65535 * 255)) <= 1


def test_rgba_alpha_goes_onto_black():
    arr = np.zeros((2, 2, 4), np.uint8)
    arr[..., 0] = 200
    arr[0, 0, 3] = 255
    out = load_image(Image.fromarray(arr, "RGBA"))
    assert out[0, 0].tolist() == [200, 0, 0]
    assert out[1, 1].tolist() == [0, 0, 0]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "WEBP", "TIFF"])
def test_path_bytes_and_formats(rgb_image, fmt, tmp_path):
    data = _encode(rgb_image, fmt)
    path = tmp_path / f"x.{fmt.lower()}"
    path.write_bytes(data)
    from_path = load_image(path)
    from_str = load_image(str(path))
    from_bytes = load_image(data)
    assert from_path.shape == (40, 60, 3)
    np.testing.assert_array_equal(from_path, from_bytes)
    np.testing.assert_array_equal(from_path, from_str)


def test_exif_orientation_is_applied(tmp_path):
    # Orientation 6 = the camera was turned: the stored 60x40 image displays as 40x60.
    img = Image.new("RGB", (60, 40), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 10, 10))  # blue mark top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    out = load_image(path)
    assert out.shape == (60, 40, 3)
    # Rotating 90 degrees clockwise moves the stored top-left corner to the top-right.
    assert out[2, -3, 2] > 200 and out[2, -3, 0] < 60


@pytest.mark.parametrize(
    "array, expected",
    [
        (np.zeros((5, 7), np.uint8), (5, 7, 3)),
        (np.zeros((5, 7, 1), np.uint8), (5, 7, 3)),
        (np.zeros((5, 7, 4), np.uint8), (5, 7, 3)),
        (np.ones((5, 7, 3), np.float32), (5, 7, 3)),
        (np.zeros((5, 7, 3), np.uint16), (5, 7, 3)),
        (np.zeros((5, 7), bool), (5, 7, 3)),
    ],
)
def test_arrays(array, expected):
    out = load_image(array)
    assert out.shape == expected and out.dtype == np.uint8


def test_float_array_scaled():
    out = load_image(np.full((2, 2, 3), 0.5, np.float64))
    assert out[0, 0, 0] == 128


def _truncated(rgb_image, fmt):
    data = _encode(rgb_image, fmt)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda tmp, img: tmp / "missing.jpg", "no such file"),
        (lambda tmp, img: tmp, "directory"),
        (lambda tmp, img: _write(tmp / "empty.jpg", b""), "empty"),
        (lambda tmp, img: _write(tmp / "text.jpg", b"hello, not an image"), "not an image"),
        (lambda tmp, img: _write(tmp / "cut.jpg", _truncated(img, "JPEG")), "truncated"),
        (lambda tmp, img: _write(tmp / "cut.png", _truncated(img, "PNG")), "truncated"),
        (lambda tmp, img: b"", "0 bytes"),
        (lambda tmp, img: b"\x89PNG garbage", "not an image"),
        (lambda tmp, img: np.zeros((4, 4, 2), np.uint8), r"shape"),
        (lambda tmp, img: np.zeros((4,), np.uint8), r"shape"),
        (lambda tmp, img: np.zeros((4, 4, 3), np.int64), r"dtype"),
        (lambda tmp, img: np.full((4, 4, 3), 3.0), r"\[0, 1\]"),
        (lambda tmp, img: np.full((4, 4, 3), np.nan), "NaN"),
        (lambda tmp, img: np.zeros((0, 4, 3), np.uint8), "empty"),
        (lambda tmp, img: 42, "expected a path"),
    ],
)
def test_bad_inputs_raise_invalid_image_error(tmp_path, rgb_image, make, match):
    with pytest.raises(InvalidImageError, match=match):
        load_image(make(tmp_path, rgb_image))


def _write(path, data):
    path.write_bytes(data)
    return path


def test_invalid_image_error_is_a_value_error():
    with pytest.raises(ValueError):
        load_image(b"nope")


def test_too_many_pixels_refused_from_header_before_decoding(tmp_path):
    # 8000 x 7000 = 56 MP. A PNG of one colour compresses to a few kB, so only the
    # header check stands between this file and 168 MB of decoded pixels.
    path = tmp_path / "huge.png"
    Image.new("L", (8000, 7000)).save(path, optimize=False)
    assert path.stat().st_size < 2_000_000
    with pytest.raises(InvalidImageError, match="56.0 megapixels"):
        load_image(path)
    with pytest.raises(InvalidImageError, match="megapixels"):
        load_image(np.zeros((10, 10, 3), np.uint8), max_pixels=50)


def test_real_lfw_image(lfw_dir):
    out = load_image(lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg")
    assert out.shape == (250, 250, 3) and out.dtype == np.uint8


# --- hostile files (issue 16): every decoder failure is an InvalidImageError naming the
# file and the reason, and a path that is not a regular file says what it is instead.


def _lfw_bytes(lfw_dir, fmt: str, **kwargs) -> bytes:
    return _encode(Image.open(lfw_dir / "AJ_Cook" / "AJ_Cook_0001.jpg"), fmt, **kwargs)


def _bmp_with_depth(data: bytes, depth: int) -> bytes:
    out = bytearray(data)
    out[28:30] = depth.to_bytes(2, "little")  # biBitCount in BITMAPINFOHEADER
    return bytes(out)


def _jpeg_with_width(data: bytes, width: int) -> bytes:
    out = bytearray(data)
    sof = out.index(b"\xff\xc0")  # marker, length, precision, height, width
    out[sof + 7 : sof + 9] = width.to_bytes(2, "big")
    return bytes(out)


def test_flat_jpeg_is_not_mistaken_for_a_short_one():
    # A flat picture is the cheapest JPEG there is (about 3 bits a block, progressive):
    # still above the one bit a block the length check asks for.
    data = _encode(Image.new("RGB", (3000, 3000), (90, 90, 90)), "JPEG", progressive=True)
    assert load_image(data).shape == (3000, 3000, 3)


def _webp_without_decoder(data: bytes) -> bytes:
    # A VP8 chunk whose frame tag is garbage: the RIFF header is fine, so Pillow picks
    # its WebP plugin, and libwebp refuses to make a decoder.
    out = bytearray(data)
    out[20:30] = b"\xff" * 10
    return bytes(out)


@pytest.mark.parametrize(
    "make, match",
    [
        # The probe's 78-byte JPEG: the header stops inside a marker segment.
        (lambda d: _lfw_bytes(d, "JPEG")[:78], "corrupt or unsupported image header"),
        (lambda d: _webp_without_decoder(_lfw_bytes(d, "WEBP")), "could not create decoder"),
        (lambda d: _bmp_with_depth(_lfw_bytes(d, "BMP"), 6), "Unsupported BMP pixel depth"),
        (lambda d: _lfw_bytes(d, "PNG")[:20], "Truncated File Read"),
        (lambda d: _lfw_bytes(d, "TIFF")[:-5000], "truncated or corrupt TIFF"),
        # A width of 65376 in a 10 kB file: libjpeg would make up 16 MP in grey, silently.
        (lambda d: _jpeg_with_width(_lfw_bytes(d, "JPEG"), 65376), "cannot hold 65376x250"),
    ],
)
def test_decoder_failures_name_the_file_and_the_reason(lfw_dir, tmp_path, make, match):
    data = make(lfw_dir)
    path = _write(tmp_path / "hostile.img", data)
    with pytest.raises(InvalidImageError, match=match) as info:
        load_image(path)
    assert str(info.value).startswith(f"{path}: ")
    with pytest.raises(InvalidImageError, match=match):
        load_image(data, label="upload.jpg")


def test_bytes_are_named_by_their_label():
    with pytest.raises(InvalidImageError, match=r"^photo\.jpg: not an image"):
        load_image(b"not an image", label="photo.jpg")


def test_symlink_loop_is_named_as_such(tmp_path):
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    with pytest.raises(InvalidImageError, match="symbolic link loop"):
        load_image(loop)


def test_broken_symlink_names_its_target(tmp_path):
    link = tmp_path / "link.jpg"
    link.symlink_to(tmp_path / "gone.jpg")
    with pytest.raises(InvalidImageError, match="broken symbolic link.*gone.jpg"):
        load_image(link)


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    # Opening a FIFO for reading would block until a writer comes: must not get there.
    with pytest.raises(InvalidImageError, match="FIFO"):
        load_image(fifo)
    with pytest.raises(InvalidImageError, match="FIFO"):
        read_image_file(fifo)


def test_device_is_refused():
    with pytest.raises(InvalidImageError, match="character device"):
        load_image("/dev/null")


def test_file_inside_an_unreadable_folder(tmp_path, lfw_dir, run_python_without_root):
    locked = tmp_path / "locked"
    locked.mkdir()
    photo = locked / "a.jpg"
    photo.write_bytes(_lfw_bytes(lfw_dir, "JPEG"))
    locked.chmod(0o000)
    code = (
        "from workbench.images import load_image\n"
        "from workbench.errors import InvalidImageError\n"
        "try:\n"
        f"    load_image({str(photo)!r})\n"
        "except InvalidImageError as exc:\n"
        "    print(exc)\n"
    )
    try:
        proc = run_python_without_root(code)
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        f"{photo}: permission denied (the file, or a folder on its path, is not readable)"
    )


def _bmp_of_size(width: int, height: int) -> bytes:
    out = bytearray(_encode(Image.new("RGB", (4, 4)), "BMP"))
    out[18:26] = width.to_bytes(4, "little") + height.to_bytes(4, "little")
    return bytes(out)


def test_header_past_pillows_own_limit_is_our_error():
    # 20000 x 20000 = 400 MP: Pillow raises DecompressionBombError itself (above twice its
    # 89 MP limit) before our check sees the size.
    with pytest.raises(InvalidImageError, match=r"^big\.bmp: too large"):
        load_image(_bmp_of_size(20000, 20000), label="big.bmp")


def test_decoding_in_threads_leaves_pillows_globals_alone(rgb_image):
    import threading
    import warnings

    data = _encode(rgb_image, "PNG")
    limit, filters = Image.MAX_IMAGE_PIXELS, list(warnings.filters)
    errors = []

    def work(max_pixels):
        try:
            for _ in range(50):
                assert load_image(data, max_pixels=max_pixels).shape == (40, 60, 3)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    # Half the threads ask for more than Pillow allows, which lifts its limit for a moment.
    threads = [threading.Thread(target=work, args=(m,)) for m in (10**6, 10**9) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Image.MAX_IMAGE_PIXELS == limit and list(warnings.filters) == filters
