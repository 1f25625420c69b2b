"""engine.imageio: every format in and out, conversions with value checks, and every bad file."""

from __future__ import annotations

import errno
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from engine.errors import ImageReadError, ImageWriteError, MaskError
from engine.imageio import (
    ImageLossWarning,
    composite_over_white,
    read_image,
    read_image_with_info,
    read_mask,
)
from engine.imagesave import save_completion, save_image, save_mask

RNG = np.random.default_rng(1234)
PHOTO = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)  # 32 wide, 24 tall: orientation shows


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` but carries almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _truncated_copy(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


# -- round trips ----------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".tiff"])
def test_lossless_formats_round_trip_exactly(tmp_path, suffix):
    np.testing.assert_array_equal(read_image(save_image(tmp_path / f"photo{suffix}", PHOTO)), PHOTO)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".webp"])
def test_lossy_formats_round_trip_closely(tmp_path, suffix):
    smooth = cv2.GaussianBlur(cv2.resize(PHOTO, (64, 48)), (0, 0), 3)
    back = read_image(save_image(tmp_path / f"photo{suffix}", smooth, quality=95))
    assert back.shape == smooth.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - smooth).mean() < 3


def test_non_ascii_path_round_trip(tmp_path):
    folder = tmp_path / "фото 写真 ü"
    folder.mkdir()
    path = save_image(folder / "лицо 顔.png", PHOTO)
    np.testing.assert_array_equal(read_image(str(path)), PHOTO)
    mask = np.zeros(PHOTO.shape[:2], np.uint8)
    mask[5:10, 5:20] = 255
    np.testing.assert_array_equal(read_mask(save_mask(folder / "маска.png", mask)), mask)


def test_read_image_with_info_keeps_format_exif_and_profile(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "FaceInpaint Test Camera"  # Make
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "in.jpg"
    Image.fromarray(PHOTO).save(path, exif=exif.tobytes(), icc_profile=icc, quality=95)
    loaded = read_image_with_info(path)
    assert loaded.format == "JPEG" and loaded.path == path and loaded.alpha is None
    assert loaded.pixels.shape == PHOTO.shape
    assert loaded.icc_profile == icc
    out = save_image(tmp_path / "out.jpg", loaded.pixels, exif=loaded.exif, icc_profile=loaded.icc_profile)
    with Image.open(out) as im:
        assert im.getexif()[0x010F] == "FaceInpaint Test Camera"
        assert im.info["icc_profile"] == icc


# -- EXIF orientation -----------------------------------------------------------------------------
def test_exif_orientation_is_applied_and_reset_on_save(tmp_path):
    picture = np.full((24, 32, 3), 128, np.uint8)  # 32 wide, 24 tall, red patch at the top left
    picture[:8, :8] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    path = tmp_path / "rotated.jpg"
    Image.fromarray(picture).save(path, exif=exif.tobytes(), quality=100)
    loaded = read_image_with_info(path)
    assert loaded.pixels.shape == (32, 24, 3)  # width and height swapped
    np.testing.assert_allclose(loaded.pixels[1:7, -7:-1].mean(axis=(0, 1)), [255, 0, 0], atol=12)  # now top right
    assert abs(loaded.pixels[-4:, :4].mean() - 128) < 4
    saved = save_image(tmp_path / "upright.jpg", loaded.pixels, exif=loaded.exif)
    with Image.open(saved) as im:
        assert im.getexif()[0x0112] == 1
    assert read_image(saved).shape == (32, 24, 3)  # not rotated a second time


# -- conversions ----------------------------------------------------------------------------------
def test_gray_becomes_three_equal_channels(tmp_path):
    gray = PHOTO[:, :, 0]
    Image.fromarray(gray, "L").save(tmp_path / "gray.png")
    rgb = read_image(tmp_path / "gray.png")
    assert rgb.shape == (24, 32, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], gray)


def test_rgba_is_composited_over_white_or_kept(tmp_path):
    alpha = np.zeros((24, 32), np.uint8)
    alpha[:, 16:] = 255
    alpha[:, 8:16] = 128
    Image.fromarray(np.dstack([PHOTO, alpha]), "RGBA").save(tmp_path / "rgba.png")
    flat = read_image(tmp_path / "rgba.png")
    assert flat.shape == (24, 32, 3)
    assert (flat[:, :8] == 255).all()  # fully transparent -> white
    np.testing.assert_array_equal(flat[:, 16:], PHOTO[:, 16:])  # opaque -> unchanged
    half = (PHOTO[:, 8:16].astype(int) * 128 + 255 * 127 + 127) // 255
    np.testing.assert_array_equal(flat[:, 8:16], half)
    kept = read_image(tmp_path / "rgba.png", keep_alpha=True)
    assert kept.shape == (24, 32, 4)
    np.testing.assert_array_equal(kept[:, :, 3], alpha)
    np.testing.assert_array_equal(kept[:, 16:, :3], PHOTO[:, 16:])


def test_la_and_transparent_palette_are_composited(tmp_path):
    la = np.dstack([np.full((4, 4), 10, np.uint8), np.full((4, 4), 0, np.uint8)])
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert (read_image(tmp_path / "la.png") == 255).all()
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([200, 10, 10, 0, 0, 0] + [0] * 762)
    palette.info["transparency"] = 1
    palette.putpixel((0, 0), 1)
    palette.save(tmp_path / "p.png", transparency=1)
    rgb = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(rgb[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(rgb[1, 1], [200, 10, 10])


def test_palette_without_transparency(tmp_path):
    palette = Image.fromarray(PHOTO).quantize(colors=16)
    palette.save(tmp_path / "p.bmp")
    np.testing.assert_array_equal(read_image(tmp_path / "p.bmp"), np.asarray(palette.convert("RGB")))


def test_16_bit_gray_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32896, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    Image.fromarray(values).save(tmp_path / "g16.tif")
    for name in ("g16.png", "g16.tif"):
        np.testing.assert_array_equal(read_image(tmp_path / name)[0, :, 0], [0, 1, 128, 255])


def test_16_bit_rgb_png_and_tiff_are_scaled(tmp_path):
    rgb16 = np.zeros((2, 3, 3), np.uint16)
    rgb16[0, 0] = (65535, 0, 32896)
    rgb16[1, 2] = (257, 65535, 0)
    for name in ("rgb16.png", "rgb16.tif"):
        assert cv2.imwrite(str(tmp_path / name), rgb16[:, :, ::-1])  # OpenCV writes BGR
        rgb = read_image(tmp_path / name)
        assert rgb.dtype == np.uint8
        np.testing.assert_allclose(rgb[0, 0], [255, 0, 128], atol=1)
        np.testing.assert_allclose(rgb[1, 2], [1, 255, 0], atol=1)


def test_float_tiffs_are_read_as_0_to_1(tmp_path):
    gray = np.array([[0.0, 0.5, 1.0]], np.float32)
    Image.fromarray(gray).save(tmp_path / "f.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif")[0, :, 0], [0, 128, 255])
    rgb = np.zeros((2, 2, 3), np.float32)
    rgb[0, 0] = (1.0, 0.0, 0.25)
    assert cv2.imwrite(str(tmp_path / "rgbf.tif"), rgb[:, :, ::-1])  # a TIFF Pillow cannot decode
    np.testing.assert_array_equal(read_image(tmp_path / "rgbf.tif")[0, 0], [255, 0, 64])


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:, :4] = (255, 0, 0)
    rgb[:, 4:] = (0, 0, 255)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=100)
    with Image.open(tmp_path / "cmyk.jpg") as im:
        assert im.mode == "CMYK"
    back = read_image(tmp_path / "cmyk.jpg")
    assert back.shape == (8, 8, 3)
    np.testing.assert_allclose(back[2, 1], [255, 0, 0], atol=8)
    np.testing.assert_allclose(back[2, 6], [0, 0, 255], atol=8)


def test_composite_over_white_extremes():
    rgb = np.full((1, 3, 3), 40, np.uint8)
    out = composite_over_white(rgb, np.array([[0, 255, 51]], np.uint8))
    np.testing.assert_array_equal(out[0, :, 0], [255, 40, (40 * 51 + 255 * 204 + 127) // 255])


# -- bad files ------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="no such file") as info:
        read_image(tmp_path / "nothing.jpg")
    assert "nothing.jpg" in str(info.value)


def test_folder(tmp_path):
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty") as info:
        read_image(tmp_path / "empty.png")
    assert "empty.png" in str(info.value)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_files_are_refused(tmp_path, suffix):
    whole = save_image(tmp_path / f"whole{suffix}", RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    cut = _truncated_copy(whole, tmp_path / f"cut{suffix}")
    with pytest.raises(ImageReadError, match="truncated") as info:
        read_image(cut)
    assert f"cut{suffix}" in str(info.value)


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("these are not pixels\n")
    with pytest.raises(ImageReadError, match="not an image") as info:
        read_image(tmp_path / "notes.jpg")
    assert "notes.jpg" in str(info.value)


def test_unsupported_format(tmp_path):
    Image.fromarray(PHOTO).save(tmp_path / "anim.gif")
    with pytest.raises(ImageReadError, match="GIF"):
        read_image(tmp_path / "anim.gif")


def test_huge_header_is_refused_without_decoding(tmp_path):
    (tmp_path / "huge.png").write_bytes(_png_header(20000, 20000))
    with pytest.raises(ImageReadError, match="megapixels") as info:
        read_image(tmp_path / "huge.png")
    assert "huge.png" in str(info.value)
    assert "over the limit of 100 megapixels" in str(info.value) and "400 megapixels" in str(info.value)
    (tmp_path / "vast.png").write_bytes(_png_header(60000, 60000))  # issue 11: reported as "over 179 megapixels"
    with pytest.raises(ImageReadError, match=r"\(3,600 megapixels\) is over the limit of 100 megapixels"):
        read_image(tmp_path / "vast.png")
    (tmp_path / "big.png").write_bytes(_png_header(5000, 4000))
    with pytest.raises(ImageReadError, match="5000x4000"):
        read_image(tmp_path / "big.png", max_pixels=1_000_000)


def test_corrupt_pixel_data_with_a_valid_header(tmp_path):
    (tmp_path / "corrupt.png").write_bytes(_png_header(64, 64))  # IDAT far too short for 64x64
    with pytest.raises(ImageReadError, match="corrupt.png"):
        read_image(tmp_path / "corrupt.png")


# -- masks ----------------------------------------------------------------------------------------
def test_read_mask_thresholds_any_channel(tmp_path):
    gray = np.array([[0, 127, 128, 255]], np.uint8)
    Image.fromarray(gray).save(tmp_path / "m.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), [[0, 0, 255, 255]])
    rgb = np.zeros((1, 5, 3), np.uint8)
    rgb[0, 0] = (255, 255, 255)
    rgb[0, 1] = (255, 0, 0)  # pure red: a hole (issue 11: its luminance of 76 made the mask "empty")
    rgb[0, 2] = (0, 255, 0)
    rgb[0, 3] = (0, 0, 255)
    rgb[0, 4] = (127, 127, 127)  # dark: kept
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png"), [[255, 255, 255, 255, 0]])


def test_a_mask_painted_pure_red_is_not_called_empty(tmp_path):
    from engine.models import create_model

    red = np.zeros((*PHOTO.shape[:2], 3), np.uint8)
    red[8:16, 8:16] = (255, 0, 0)
    Image.fromarray(red).save(tmp_path / "red.png")
    mask = read_mask(tmp_path / "red.png", PHOTO.shape)
    assert mask[8:16, 8:16].all() and mask.sum() == 64 * 255
    create_model("telea").inpaint(PHOTO, mask)  # "the mask is empty" before


def test_read_mask_uses_alpha_of_a_transparent_layer(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)  # black strokes painted on a transparent layer
    rgba[0, 0, 3] = 255
    rgba[1, 1, 3] = 200
    Image.fromarray(rgba, "RGBA").save(tmp_path / "layer.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "layer.png"), [[255, 0], [0, 255]])


def test_read_mask_of_the_wrong_size(tmp_path):
    mask = np.zeros((10, 20), np.uint8)
    mask[:, :10] = 255
    save_mask(tmp_path / "m.png", mask)
    with pytest.raises(MaskError, match=r"mask is 20x10, image is 40x30") as info:
        read_mask(tmp_path / "m.png", shape=(30, 40, 3))
    assert "m.png" in str(info.value)
    resized = read_mask(tmp_path / "m.png", shape=(30, 40, 3), resize=True)
    assert resized.shape == (30, 40) and set(np.unique(resized)) == {0, 255}
    assert (resized[:, :20] == 255).all() and (resized[:, 20:] == 0).all()


def test_read_mask_bad_file(tmp_path):
    (tmp_path / "mask.png").write_text("no")
    with pytest.raises(ImageReadError, match="mask.png"):
        read_mask(tmp_path / "mask.png")


def test_save_mask_is_binary_lossless_and_refuses_jpeg(tmp_path):
    soft = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    path = save_mask(tmp_path / "m.png", soft)
    np.testing.assert_array_equal(read_mask(path), np.where(soft > 0.5, 255, 0))
    channels = np.zeros((3, 4, 3), np.uint8)
    channels[0, 0, 1] = 255
    with Image.open(save_mask(tmp_path / "c.png", channels)) as im:
        np.testing.assert_array_equal(np.asarray(im), channels)
    with pytest.raises(ImageWriteError, match="losslessly"):
        save_mask(tmp_path / "m.jpg", soft)


# -- saving safely --------------------------------------------------------------------------------
def test_overwrite_is_refused_unless_asked(tmp_path):
    path = save_image(tmp_path / "out.png", PHOTO)
    before = path.read_bytes()
    with pytest.raises(ImageWriteError, match="already exists") as info:
        save_image(path, 255 - PHOTO)
    assert "--overwrite" in str(info.value) and "overwrite=True" not in str(info.value)  # issue 11
    assert path.read_bytes() == before
    save_image(path, 255 - PHOTO, overwrite=True)
    np.testing.assert_array_equal(read_image(path), 255 - PHOTO)


def test_input_photo_is_protected(tmp_path):
    photo = save_image(tmp_path / "photo.png", PHOTO)
    before = photo.read_bytes()
    aliased = tmp_path / "sub" / ".." / "photo.png"
    (tmp_path / "sub").mkdir()
    with pytest.raises(ImageWriteError, match="input photo"):
        save_image(aliased, 255 - PHOTO, protect=photo)
    with pytest.raises(ImageWriteError, match="input photo"):
        save_image(aliased, 255 - PHOTO, protect=photo, overwrite=True)  # overwrite does not lift it
    assert photo.read_bytes() == before
    save_image(aliased, 255 - PHOTO, protect=None, overwrite=True)  # the caller asked the user
    np.testing.assert_array_equal(read_image(photo), 255 - PHOTO)


def test_full_disk_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = save_image(tmp_path / "out.jpg", PHOTO)
    before = path.read_bytes()

    def full_disk(self, fp, *args, **kwargs):
        fp.write(b"partial data")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(ImageWriteError, match="disk is full") as info:
        save_image(path, 255 - PHOTO, overwrite=True)
    assert "out.jpg" in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg"]
    with pytest.raises(ImageWriteError):
        save_mask(tmp_path / "new.png", np.zeros((4, 4), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg"]


def test_unknown_extension_and_bad_targets(tmp_path):
    with pytest.raises(ImageWriteError, match="'.xyz'"):
        save_image(tmp_path / "out.xyz", PHOTO)
    with pytest.raises(ImageWriteError, match="no extension"):
        save_image(tmp_path / "out", PHOTO)
    with pytest.raises(ImageWriteError, match="does not exist"):
        save_image(tmp_path / "missing" / "out.png", PHOTO)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageWriteError, match="folder"):
        save_image(tmp_path / "dir.png", PHOTO, overwrite=True)


def test_bad_arrays_are_refused(tmp_path):
    with pytest.raises(ImageWriteError, match="uint8"):
        save_image(tmp_path / "f.png", PHOTO.astype(np.float32))
    with pytest.raises(ImageWriteError, match="shape"):
        save_image(tmp_path / "f.png", PHOTO[:, :, :2])
    with pytest.raises(ImageWriteError, match="alpha"):
        save_image(tmp_path / "f.png", PHOTO, alpha=np.zeros((2, 2), np.uint8))
    assert not any(tmp_path.iterdir())


def test_alpha_is_kept_by_png_and_flattened_by_jpeg(tmp_path):
    alpha = np.zeros(PHOTO.shape[:2], np.uint8)
    alpha[:, :16] = 255
    kept = read_image(save_image(tmp_path / "a.png", PHOTO, alpha=alpha), keep_alpha=True)
    np.testing.assert_array_equal(kept, np.dstack([PHOTO, alpha]))
    flat = read_image(save_image(tmp_path / "a.jpg", PHOTO, alpha=alpha, quality=100))
    assert flat[:, 20:].mean() > 250  # the transparent half became white


# -- saving a completion in kind (issue 11, defect 5) ---------------------------------------------
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
HOLE = np.zeros(PHOTO.shape[:2], np.uint8)
HOLE[6:14, 10:20] = 255
FILL = np.full(PHOTO.shape, 77, np.uint8)  # what a model put in the hole


def deep_png(path: Path, rgba16: np.ndarray, *, icc: bytes | None = None, orientation: int | None = None) -> Path:
    """A 16-bit PNG (OpenCV), with an ICC profile and an EXIF orientation spliced in."""
    channels = [2, 1, 0, 3][: rgba16.shape[2]]
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgba16[:, :, channels]))
    assert ok
    data = data.tobytes()
    extra = b""
    if icc is not None:
        extra += chunk(b"iCCP", b"p\x00\x00" + zlib.compress(icc))
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        extra += chunk(b"eXIf", exif.tobytes()[6:])
    path.write_bytes(data[:33] + extra + data[33:])
    return path


def rgba16() -> np.ndarray:
    values = RNG.integers(0, 65536, (*PHOTO.shape[:2], 4), dtype=np.uint16)
    values[0, 0, 3] = 0  # fully transparent somewhere
    return values


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_alpha_and_profile_survive_outside_the_hole(tmp_path, suffix):
    """The original failure: faceinpaint-inpaint dropped alpha (white), the profile and 16-bit depth."""
    samples = rgba16()
    source = read_image_with_info(deep_png(tmp_path / "in.png", samples, icc=SRGB))
    np.testing.assert_array_equal(source.deep, samples)
    assert source.alpha is not None and source.icc_profile == SRGB
    with warnings_as_errors():
        out = save_completion(tmp_path / f"out{suffix}", FILL, HOLE, source)
    back = read_image_with_info(out)
    outside = HOLE == 0
    np.testing.assert_array_equal(back.deep[outside], samples[outside])  # every channel, alpha included
    np.testing.assert_array_equal(back.deep[HOLE > 0][:, :3], np.full((80, 3), 77 * 257))
    np.testing.assert_array_equal(back.deep[:, :, 3], samples[:, :, 3])
    assert back.icc_profile == SRGB


def test_16_bit_to_an_8_bit_format_warns_instead_of_losing_silently(tmp_path):
    source = read_image_with_info(deep_png(tmp_path / "in.png", rgba16()))
    with pytest.warns(ImageLossWarning) as caught:
        save_completion(tmp_path / "out.jpg", FILL, HOLE, source)
    text = " ".join(str(w.message) for w in caught)
    assert "16-bit" in text and "transparency" in text and "lossy" in text


def test_8_bit_alpha_is_kept_and_webp_is_written_losslessly(tmp_path):
    alpha = RNG.integers(0, 256, PHOTO.shape[:2], dtype=np.uint8)
    Image.fromarray(np.dstack([PHOTO, alpha]), "RGBA").save(tmp_path / "in.png", icc_profile=SRGB)
    source = read_image_with_info(tmp_path / "in.png")
    for suffix in (".png", ".webp", ".tif"):
        with warnings_as_errors():
            out = save_completion(tmp_path / f"out{suffix}", FILL, HOLE, source)
        back = read_image_with_info(out)
        np.testing.assert_array_equal(back.alpha, alpha)
        np.testing.assert_array_equal(back.pixels[HOLE == 0], PHOTO[HOLE == 0])
        np.testing.assert_array_equal(back.pixels[HOLE > 0], FILL[HOLE > 0])
        assert back.icc_profile == SRGB


@pytest.mark.parametrize("suffix, warned", [(".jpg", ["transparency", "lossy"]),
                                            (".bmp", ["transparency", "profile", "EXIF"])])
def test_formats_that_cannot_keep_everything_say_what_is_lost(tmp_path, suffix, warned):
    exif = Image.Exif()
    exif[0x010F] = "FaceInpaint Test Camera"
    Image.fromarray(np.dstack([PHOTO, np.full(PHOTO.shape[:2], 200, np.uint8)]), "RGBA").save(
        tmp_path / "in.png", icc_profile=SRGB, exif=exif.tobytes())
    with pytest.warns(ImageLossWarning) as caught:
        save_completion(tmp_path / f"out{suffix}", FILL, HOLE, read_image_with_info(tmp_path / "in.png"))
    text = " ".join(str(w.message) for w in caught)
    assert all(word in text for word in warned) and f"out{suffix}" in text


def test_a_channel_wise_hole_keeps_the_known_channels(tmp_path):
    """Issue 11, defect 13 at the save: a green-only hole must not change red or blue."""
    Image.fromarray(PHOTO).save(tmp_path / "in.png")
    channels = np.zeros(PHOTO.shape, np.uint8)
    channels[6:14, 10:20, 1] = 255
    out = save_completion(tmp_path / "out.png", FILL, channels, read_image_with_info(tmp_path / "in.png"))
    back = read_image(out)
    np.testing.assert_array_equal(back[:, :, [0, 2]], PHOTO[:, :, [0, 2]])
    np.testing.assert_array_equal(back[6:14, 10:20, 1], 77)


def test_save_completion_refuses_what_save_image_refuses(tmp_path):
    Image.fromarray(PHOTO).save(tmp_path / "in.png")
    source = read_image_with_info(tmp_path / "in.png")
    with pytest.raises(ImageWriteError, match="input photo"):
        save_completion(tmp_path / "in.png", FILL, HOLE, source, overwrite=True, protect=tmp_path / "in.png")
    with pytest.raises(ImageWriteError, match="already exists"):
        save_completion(tmp_path / "in.png", FILL, HOLE, source)
    with pytest.raises(MaskError, match="does not fit"):
        save_completion(tmp_path / "out.png", FILL, HOLE[:10], source)
    assert read_image(tmp_path / "in.png").tobytes() == PHOTO.tobytes()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16_bit_files_are_turned_upright_as_8_bit_ones(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(PHOTO).save(tmp_path / "in8.png", exif=exif.tobytes())
    deep = deep_png(tmp_path / "in16.png", PHOTO.astype(np.uint16) * 257, orientation=orientation)
    eight, sixteen = read_image_with_info(tmp_path / "in8.png"), read_image_with_info(deep)
    np.testing.assert_array_equal(sixteen.pixels, eight.pixels)
    np.testing.assert_array_equal(sixteen.deep, eight.pixels.astype(np.uint16) * 257)
    out = save_completion(tmp_path / "out.png", FILL[: eight.pixels.shape[0], : eight.pixels.shape[1]]
                          if orientation < 5 else np.full(eight.pixels.shape, 77, np.uint8),
                          np.zeros(eight.pixels.shape[:2], np.uint8), sixteen)
    np.testing.assert_array_equal(read_image_with_info(out).deep, sixteen.deep)  # saved upright: not turned twice


class warnings_as_errors:
    """Fail on any ImageLossWarning: a format that can keep everything must not warn."""

    def __enter__(self):
        import warnings

        self._context = warnings.catch_warnings()
        self._context.__enter__()
        warnings.simplefilter("error", ImageLossWarning)

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)


def test_exif_is_kept_by_every_format_that_can_hold_it(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "FaceInpaint Test Camera"
    Image.fromarray(PHOTO).save(tmp_path / "in.png", exif=exif.tobytes())
    source = read_image_with_info(tmp_path / "in.png")
    for suffix in (".png", ".tif", ".webp"):
        with warnings_as_errors():
            out = save_completion(tmp_path / f"out{suffix}", FILL, HOLE, source)
        with Image.open(out) as im:
            assert im.getexif()[0x010F] == "FaceInpaint Test Camera", suffix
    deep = read_image_with_info(deep_png(tmp_path / "in16.png", rgba16(), orientation=1))
    save_completion(tmp_path / "out16.png", FILL, HOLE, deep)
    with Image.open(tmp_path / "out16.png") as im:
        assert im.getexif()[0x0112] == 1
    with pytest.warns(ImageLossWarning, match="without the photo's EXIF"):
        save_completion(tmp_path / "out16.tif", FILL, HOLE, deep)
