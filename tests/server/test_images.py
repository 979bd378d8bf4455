"""Avatar and logo images: the bytes decide, the limits hold, nothing but pixels survives."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from PIL import ExifTags, Image, ImageCms, ImageStat, PngImagePlugin

from tekcify_auth.server.errors import ApiError
from tekcify_auth.server.services.images import (
    EMPTY,
    MIB,
    NOT_AN_IMAGE,
    TOO_LARGE,
    TOO_MANY_PIXELS,
    UNREADABLE,
    ImageLimits,
    ImageProcessor,
    ImageRejected,
    ProcessedImage,
    process_image,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NOT_AN_IMAGE_MESSAGE = "The file is not a PNG, JPEG, WebP or GIF image"
UNREADABLE_MESSAGE = "The image is truncated or corrupt and cannot be read"
PIXELS_MESSAGE = "The image is larger than 4096\u00d74096 pixels"
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"
RED, BLUE = (255, 0, 0), (0, 0, 255)


# ---------------------------------------------------------------------------- helpers


def _picture(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A deterministic picture with some structure (gradients), in ``mode``."""
    across = Image.linear_gradient("L").rotate(90).resize(size)
    down = Image.linear_gradient("L").resize(size)
    ring = Image.radial_gradient("L").resize(size)
    return Image.merge("RGB", (across, down, ring)).convert(mode)


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def _decoded(result: ProcessedImage) -> Image.Image:
    """The output decoded again, checked to be the type it claims to be."""
    expected = {"image/png": "PNG", "image/jpeg": "JPEG"}[result.media_type]
    image = Image.open(io.BytesIO(result.data), formats=[expected])
    image.load()
    assert image.format == expected
    assert image.size == (result.width, result.height)
    return image


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _png_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG, asserting nothing follows IEND."""
    assert data.startswith(PNG_SIGNATURE)
    pos, kinds = len(PNG_SIGNATURE), []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        kinds.append(kind)
        pos += 12 + length
    assert pos == len(data)
    assert kinds[-1] == b"IEND"
    return kinds


def _jpeg_segments(data: bytes) -> list[int]:
    """The markers before the first scan of a JPEG, asserting nothing follows EOI."""
    assert data.startswith(b"\xff\xd8")
    assert data.endswith(b"\xff\xd9")
    pos, markers = 2, []
    while data[pos + 1] != 0xDA:
        assert data[pos] == 0xFF
        markers.append(data[pos + 1])
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return markers


def _assert_no_metadata(result: ProcessedImage) -> None:
    image = _decoded(result)
    assert not image.getexif()
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "Comment"):
        assert key not in image.info
    if result.media_type == "image/png":
        assert set(_png_chunks(result.data)) <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}
    else:
        # SOF, DHT, DQT and the JFIF APP0 only: no APP1 (EXIF/XMP), APP2 (ICC), COM.
        markers = _jpeg_segments(result.data)
        assert not [m for m in markers if 0xE1 <= m <= 0xEF or m == 0xFE]


def _bilevel_png(width: int, height: int) -> bytes:
    """A valid black 1-bit PNG built row by row: tiny on disk, never held as pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = bytes(1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (
        PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _image_allocations() -> int:
    """How many images Pillow's C core has allocated so far in this process."""
    stats: dict[str, int] = Image.core.get_stats()
    return stats["new_count"]


def _rejected(data: bytes, **kwargs: Any) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        process_image(data, **kwargs)
    assert isinstance(caught.value, ApiError)
    assert caught.value.body()["message"] == caught.value.message
    return caught.value


# --------------------------------------------------------------------- accepted images


@pytest.mark.parametrize(
    ("fmt", "mode", "size", "media_type", "out_size"),
    [
        ("PNG", "RGBA", (1024, 768), "image/png", (512, 384)),
        ("PNG", "RGB", (640, 1280), "image/png", (256, 512)),
        ("JPEG", "RGB", (2000, 1000), "image/jpeg", (512, 256)),
        ("WEBP", "RGB", (800, 800), "image/jpeg", (512, 512)),
        ("GIF", "P", (600, 300), "image/png", (512, 256)),
        ("PNG", "RGBA", (100, 50), "image/png", (100, 50)),
    ],
)
def test_valid_images_are_accepted_resized_and_reencoded(
    fmt: str, mode: str, size: tuple[int, int], media_type: str, out_size: tuple[int, int]
) -> None:
    source = _picture(size, mode)
    data = _encode(source, fmt)
    result = process_image(data)
    assert result.media_type == media_type
    assert (result.width, result.height) == out_size
    out = _decoded(result)
    # The pixels came along (not a blank canvas): same average colour, within resampling.
    before = ImageStat.Stat(source.convert("RGB")).mean
    after = ImageStat.Stat(out.convert("RGB")).mean
    assert all(abs(a - b) < 8 for a, b in zip(before, after, strict=True))


def test_a_png_stays_a_png_with_its_transparency_and_a_jpeg_stays_a_jpeg() -> None:
    # Half transparent, half opaque red; a logo on a transparent background.
    logo = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    logo.paste(Image.new("RGBA", (32, 64), (*RED, 255)), (0, 0))
    result = process_image(_encode(logo, "PNG"))
    assert result.media_type == "image/png"
    assert result.extension == "png"
    out = _decoded(result)
    assert out.mode == "RGBA"
    assert out.getpixel((48, 32))[3] == 0  # still see-through
    assert out.getpixel((16, 32)) == pytest.approx((*RED, 255), abs=2)
    # A PNG with a transparent colour key (tRNS) rather than an alpha channel.
    keyed = Image.new("RGB", (32, 32), BLUE)
    keyed.paste(Image.new("RGB", (16, 32), RED), (0, 0))
    keyed_png = _encode(keyed, "PNG", transparency=BLUE)
    keyed_out = _decoded(process_image(keyed_png))
    assert keyed_out.convert("RGBA").getpixel((24, 16))[3] == 0
    # An opaque PNG (a screenshot) is a PNG too; a JPEG photo stays a JPEG.
    assert process_image(_encode(_picture((40, 40), "RGB"), "PNG")).media_type == "image/png"
    photo = process_image(_encode(_picture((40, 40), "RGB"), "JPEG"))
    assert (photo.media_type, photo.extension) == ("image/jpeg", "jpg")


def test_the_declared_name_and_type_are_ignored() -> None:
    png = _encode(_picture((40, 40), "RGBA"), "PNG")
    result = process_image(png, filename="avatar.svg", content_type="image/svg+xml")
    assert result.media_type == "image/png"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>'
    assert _rejected(svg, filename="avatar.png", content_type="image/png").reason == NOT_AN_IMAGE


def test_the_output_box_is_configurable() -> None:
    result = process_image(_encode(_picture((300, 150)), "PNG"), limits=ImageLimits(output_side=64))
    assert (result.width, result.height) == (64, 32)


def test_a_multi_picture_jpeg_is_a_jpeg_and_only_its_first_picture_is_kept() -> None:
    first, second = Image.new("RGB", (64, 64), RED), Image.new("RGB", (64, 64), BLUE)
    data = _encode(first, "MPO", save_all=True, append_images=[second])
    with Image.open(io.BytesIO(data)) as probe:
        assert (probe.format, getattr(probe, "n_frames", 1)) == ("MPO", 2)
    result = process_image(data)
    out = _decoded(result)
    assert result.media_type == "image/jpeg"
    assert out.getpixel((32, 32)) == pytest.approx(RED, abs=8)
    assert result.data.count(b"\xff\xd8\xff") == 1


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_an_animation_becomes_its_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (80, 60), RED), Image.new("RGB", (80, 60), BLUE)]
    data = _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    with Image.open(io.BytesIO(data)) as probe:
        assert getattr(probe, "n_frames", 1) == 2
    out = _decoded(process_image(data))
    assert getattr(out, "n_frames", 1) == 1
    assert out.convert("RGB").getpixel((40, 30)) == pytest.approx(RED, abs=8)


def test_transparency_keeps_png_and_its_alpha() -> None:
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([*RED, *BLUE])
    palette.putpixel((0, 0), 0)
    for fmt in ("PNG", "GIF"):
        result = process_image(_encode(palette, fmt, transparency=0))
        out = _decoded(result)
        assert (result.media_type, out.mode) == ("image/png", "RGBA")
        assert out.getpixel((0, 0))[3] == 0
        assert out.getpixel((10, 10)) == (*BLUE, 255)
    webp = _encode(Image.new("RGBA", (20, 20), (*RED, 0)), "WEBP", lossless=True)
    out = _decoded(process_image(webp))
    assert out.mode == "RGBA"
    assert out.getpixel((5, 5))[3] == 0


def test_grey_and_cmyk_photos_come_out_as_jpeg() -> None:
    grey = _decoded(process_image(_encode(Image.new("L", (30, 30), 90), "JPEG")))
    assert (grey.format, grey.mode) == ("JPEG", "L")
    cmyk = _decoded(process_image(_encode(Image.new("CMYK", (30, 30), (0, 255, 255, 0)), "JPEG")))
    assert cmyk.mode == "RGB"
    assert cmyk.getpixel((15, 15)) == pytest.approx(RED, abs=8)


def test_sixteen_bit_grey_is_scaled_not_clipped_to_white() -> None:
    data = _encode(Image.new("I;16", (30, 30), 32768), "PNG")
    with Image.open(io.BytesIO(data)) as probe:
        assert probe.mode.startswith("I")
    out = _decoded(process_image(data))
    assert out.getpixel((15, 15)) == pytest.approx(128, abs=2)


def test_the_etag_is_stable_for_the_same_output() -> None:
    data = _encode(_picture((700, 500)), "JPEG")
    first, second = process_image(data), process_image(data)
    assert first.data == second.data
    assert first.etag == second.etag == f'"{hashlib.sha256(first.data).hexdigest()}"'
    other = process_image(_encode(_picture((500, 700)), "JPEG"))
    assert other.etag != first.etag
    assert first.extension == "jpg"
    assert "data" not in repr(first)


# ----------------------------------------------------------------- metadata and polyglots


def _exif_with_gps() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TekcifyCam"
    exif[ExifTags.Base.Model] = "Leaky 9000"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (51.0, 30.0, 12.5),
        ExifTags.GPS.GPSLongitudeRef: "W",
        ExifTags.GPS.GPSLongitude: (0.0, 7.0, 39.0),
    }
    return exif


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><secret>TekcifyXMP</secret></x:xmpmeta>'


@pytest.mark.parametrize(("fmt", "mode"), [
    ("JPEG", "RGB"), ("PNG", "RGB"), ("PNG", "RGBA"), ("WEBP", "RGB"), ("WEBP", "RGBA"),
])
def test_exif_gps_xmp_and_icc_are_gone(fmt: str, mode: str) -> None:
    exif = _exif_with_gps().tobytes()
    params: dict[str, Any] = {"exif": exif, "icc_profile": SRGB}
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        params["pnginfo"] = info
    else:
        params["xmp"] = XMP
    data = _encode(_picture((600, 400), mode), fmt, **params)
    with Image.open(io.BytesIO(data)) as probe:
        probe.load()
        assert probe.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert "icc_profile" in probe.info
    result = process_image(data)
    _assert_no_metadata(result)
    for secret in (b"TekcifyCam", b"Leaky", b"TekcifyXMP", b"Exif", b"GPS", b"sRGB"):
        assert secret not in result.data


@pytest.mark.parametrize(("orientation", "top", "bottom"), [
    (1, RED, RED), (3, BLUE, BLUE), (6, RED, BLUE), (8, BLUE, RED),
])
def test_the_exif_orientation_is_applied(
    orientation: int, top: tuple[int, int, int], bottom: tuple[int, int, int]
) -> None:
    stored = Image.new("RGB", (1200, 400), RED)
    stored.paste(BLUE, (600, 0, 1200, 400))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    result = process_image(_encode(stored, "JPEG", exif=exif.tobytes()))
    out = _decoded(result)
    upright = orientation in (6, 8)
    assert (result.width, result.height) == ((171, 512) if upright else (512, 171))
    if upright:
        # Stored left to right, shown top to bottom.
        assert out.getpixel((85, 20)) == pytest.approx(top, abs=10)
        assert out.getpixel((85, 490)) == pytest.approx(bottom, abs=10)
    else:
        left, right = out.getpixel((20, 85)), out.getpixel((490, 85))
        assert left == pytest.approx(top, abs=10)
        assert right == pytest.approx(BLUE if orientation == 1 else RED, abs=10)
    assert not out.getexif()


def test_broken_exif_does_not_cost_the_upload() -> None:
    data = _encode(Image.new("RGB", (40, 40), RED), "JPEG", exif=b"Exif\x00\x00MM\x00*garbage")
    # Production runs with warnings as warnings: Pillow warns about the EXIF block, and
    # the photo is taken, "as stored". (Where warnings are errors, it is refused as corrupt.)
    with pytest.warns(UserWarning, match="EXIF"):
        result = process_image(data)
    assert _decoded(result).getpixel((20, 20)) == pytest.approx(RED, abs=8)
    _assert_no_metadata(result)


def _png_with_text(kind: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    if kind == "tEXt":
        info.add_text("Comment", HTML.decode())
    elif kind == "zTXt":
        info.add_text("Comment", HTML.decode(), zip=True)
    else:
        info.add_itxt("Comment", HTML.decode(), lang="en", tkey="Comment")
    return _encode(_picture((64, 64), "RGBA"), "PNG", pnginfo=info)


def _carries_html(data: bytes) -> bool:
    if b"<script>" in data:
        return True
    with Image.open(io.BytesIO(data)) as probe:  # zTXt: compressed in the file
        probe.load()
        return "<script>" in str(probe.info)


POLYGLOTS: dict[str, Callable[[], bytes]] = {
    "png+html after IEND": lambda: _encode(_picture((64, 64), "RGBA"), "PNG") + HTML,
    "png tEXt html": lambda: _png_with_text("tEXt"),
    "png zTXt html": lambda: _png_with_text("zTXt"),
    "png iTXt html": lambda: _png_with_text("iTXt"),
    "jpeg comment html": lambda: _encode(_picture((64, 64)), "JPEG", comment=HTML),
    "jpeg+html after EOI": lambda: _encode(_picture((64, 64)), "JPEG") + HTML,
    "gif comment html": lambda: _encode(_picture((64, 64), "P"), "GIF", comment=HTML),
}


@pytest.mark.parametrize("name", sorted(POLYGLOTS))
def test_a_polyglot_leaves_no_trace(name: str) -> None:
    data = POLYGLOTS[name]()
    assert _carries_html(data)
    result = process_image(data)
    _assert_no_metadata(result)
    assert b"<html" not in result.data.lower()
    assert b"script" not in result.data.lower()


# --------------------------------------------------------------------- refused uploads


def test_an_empty_upload_is_refused() -> None:
    err = _rejected(b"")
    assert (err.status_code, err.reason, err.message) == (400, EMPTY, "The file is empty")


@pytest.mark.parametrize("data", [
    b"Just some text, not a picture.\n",
    b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n",
    random.Random(7).randbytes(4096),
    HTML,
    b"GIF8",
], ids=["text", "pdf", "random", "html", "gif-signature-start"])
def test_what_is_not_an_image_is_refused(data: bytes) -> None:
    err = _rejected(data)
    assert (err.status_code, err.reason, err.message) == (400, NOT_AN_IMAGE, NOT_AN_IMAGE_MESSAGE)


def test_svg_with_a_script_is_refused() -> None:
    svg = (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
        b'height="10"><script>alert(document.domain)</script><rect width="10" height="10"/>'
        b"</svg>"
    )
    err = _rejected(svg, filename="logo.svg", content_type="image/svg+xml")
    assert (err.status_code, err.reason) == (400, NOT_AN_IMAGE)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO", "PPM", "PDF", "TGA"])
def test_images_pillow_reads_but_we_do_not_take_are_refused(fmt: str) -> None:
    data = _encode(_picture((32, 32)), fmt)
    if fmt != "PDF":
        with Image.open(io.BytesIO(data)) as probe:
            assert probe.format == fmt
    err = _rejected(data)
    assert (err.status_code, err.reason) == (400, NOT_AN_IMAGE)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_a_truncated_image_is_refused(fmt: str) -> None:
    data = _encode(_picture((200, 200), "P" if fmt == "GIF" else "RGB"), fmt)
    err = _rejected(data[: len(data) // 2])
    assert (err.status_code, err.reason, err.message) == (400, UNREADABLE, UNREADABLE_MESSAGE)


def test_a_file_that_starts_like_an_image_but_is_cut_short_is_unreadable() -> None:
    for data in (PNG_SIGNATURE, b"\xff\xd8\xff\xe0", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBPVP8 "):
        err = _rejected(data)
        assert (err.status_code, err.reason) == (400, UNREADABLE)


def test_a_png_cut_after_its_pixels_is_refused() -> None:
    data = _encode(_picture((200, 200)), "PNG")
    assert data.endswith(_png_chunk(b"IEND", b""))
    with Image.open(io.BytesIO(data[:-12])) as probe:
        probe.load()  # Pillow alone would take it: the pixels are complete
    err = _rejected(data[:-12])
    assert (err.status_code, err.reason, err.message) == (400, UNREADABLE, UNREADABLE_MESSAGE)


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_png_with_a_damaged_chunk_is_refused(where: str) -> None:
    data = _encode(_picture((50, 50)), "PNG")
    damaged = _png_chunk(b"tEXt", b"note\x00hello")[:-1] + b"?"  # wrong CRC
    at = len(PNG_SIGNATURE) + 25 if where == "before" else len(data) - 12  # IHDR / IEND
    broken = data[:at] + damaged + data[at:]
    if where == "after":
        with Image.open(io.BytesIO(broken)) as probe:
            probe.load()  # Pillow alone would take it: the pixels are complete
    err = _rejected(broken)
    assert (err.status_code, err.reason, err.message) == (400, UNREADABLE, UNREADABLE_MESSAGE)


def test_six_mib_is_too_large() -> None:
    err = _rejected(random.Random(1).randbytes(6 * MIB))
    assert (err.status_code, err.reason) == (413, TOO_LARGE)
    assert err.message == "The image is larger than 5 MiB"
    # Exactly at the limit it is judged on its content instead.
    assert _rejected(random.Random(1).randbytes(5 * MIB)).reason == NOT_AN_IMAGE


def test_the_byte_limit_is_configurable() -> None:
    data = _encode(_picture((64, 64)), "PNG")
    assert len(data) > 1024
    err = _rejected(data, limits=ImageLimits(max_bytes=1024))
    assert (err.status_code, err.message) == (413, "The image is larger than 1 KiB")
    assert process_image(data, limits=ImageLimits(max_bytes=len(data))).width == 64


@pytest.mark.parametrize("size", [(4097, 10), (10, 4097)])
def test_too_many_pixels_across_or_down_is_refused(size: tuple[int, int]) -> None:
    err = _rejected(_encode(Image.new("L", size), "PNG"))
    assert (err.status_code, err.reason, err.message) == (413, TOO_MANY_PIXELS, PIXELS_MESSAGE)


def test_the_largest_allowed_image_is_taken() -> None:
    result = process_image(_encode(Image.new("L", (4096, 10), 200), "PNG"))
    assert (result.width, result.height) == (512, 1)


def test_the_pixel_limit_is_configurable() -> None:
    limits = ImageLimits(max_width=100, max_height=50)
    err = _rejected(_encode(Image.new("RGB", (100, 51)), "PNG"), limits=limits)
    assert err.message == "The image is larger than 100\u00d750 pixels"
    assert process_image(_encode(Image.new("RGB", (100, 50)), "PNG"), limits=limits).width == 100


def test_the_allocation_probe_sees_a_decoded_image() -> None:
    # The bomb tests below rely on this counter; show it moves when pixels are decoded.
    data = _bilevel_png(20, 10)
    before = _image_allocations()
    with Image.open(io.BytesIO(data)) as probe:
        assert (probe.format, probe.mode, probe.size) == ("PNG", "1", (20, 10))
        assert _image_allocations() == before
        probe.load()
    assert _image_allocations() > before
    assert process_image(data).media_type == "image/png"


@pytest.mark.parametrize("side", [5_000, 10_000, 20_000], ids=["25MP", "100MP", "400MP"])
def test_a_decompression_bomb_is_refused_before_its_pixels_exist(side: int) -> None:
    # 25 MP is over our limit only, 100 MP over Pillow's warning threshold (an error
    # here, warnings being errors), 400 MP over Pillow's hard limit.
    bomb = _bilevel_png(side, side)
    assert len(bomb) < 100_000
    before = _image_allocations()
    err = _rejected(bomb)
    assert _image_allocations() == before
    assert (err.status_code, err.reason, err.message) == (413, TOO_MANY_PIXELS, PIXELS_MESSAGE)


def test_a_bomb_is_refused_when_pillow_only_warns() -> None:
    # Production runs with warnings as warnings: Pillow's warning passes, our check holds.
    bomb = _bilevel_png(10_000, 10_000)
    before = _image_allocations()
    with pytest.warns(Image.DecompressionBombWarning):
        err = _rejected(bomb)
    assert _image_allocations() == before
    assert err.reason == TOO_MANY_PIXELS


def _mutations(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        if rng.random() < 0.3:
            buf = buf[: rng.randrange(1, len(buf))]
        out.append(bytes(buf))
    return out


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_damaged_files_are_refused_cleanly_or_taken(fmt: str) -> None:
    source = _picture((48, 48), "P" if fmt == "GIF" else "RGB")
    rng = random.Random(fmt)
    statuses: list[int] = []
    for data in _mutations(_encode(source, fmt, exif=_exif_with_gps().tobytes()), rng, 60):
        try:
            result = process_image(data)
        except ImageRejected as err:
            statuses.append(err.status_code)
        else:
            _assert_no_metadata(result)
    assert set(statuses) <= {400, 413}


# ------------------------------------------------------------------ limits and processor


@pytest.mark.parametrize("kwargs", [
    {"max_bytes": 0}, {"max_width": 0}, {"output_side": 0}, {"jpeg_quality": 0},
    {"jpeg_quality": 96}, {"max_width": 20_000, "max_height": 20_000},
])
def test_impossible_limits_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="ImageLimits"):
        ImageLimits(**kwargs)


async def test_aprocess_gives_the_same_answer_from_a_worker_thread() -> None:
    processor = ImageProcessor(ImageLimits(output_side=100))
    data = _encode(_picture((300, 200)), "PNG")
    assert await processor.aprocess(data) == processor.process(data)
    with pytest.raises(ImageRejected) as caught:
        await processor.aprocess(b"", filename="x.png", content_type="image/png")
    assert caught.value.reason == EMPTY


async def test_aprocess_waits_for_a_free_slot() -> None:
    processor = ImageProcessor(concurrency=1)
    data = _encode(_picture((64, 64)), "PNG")
    results: list[ProcessedImage] = []

    async def upload() -> None:
        results.append(await processor.aprocess(data))

    await processor.limiter.acquire()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(upload)
        await anyio.wait_all_tasks_blocked()
        assert results == []
        assert processor.limiter.statistics().tasks_waiting == 1
        processor.limiter.release()
    assert results == [processor.process(data)]


def test_a_processor_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        ImageProcessor(concurrency=0)
