"""Avatars and application logos: decide, check and re-encode uploaded images.

Only the bytes decide (``http-api.md``, Users): the declared file name and content type
are the client's word and are ignored. :func:`process_image` runs these steps, each one
refusing with an :class:`ImageRejected` (400, or 413 when too large) that says why:

1. **Size in bytes** — empty: 400; over ``max_bytes`` (5 MiB): 413, before Pillow sees
   anything.
2. **Type** — ``Image.open`` with ``formats`` restricted to PNG, JPEG, WebP and GIF, so
   SVG, BMP, TIFF, ICO, PDF and the rest never reach a decoder: 400.
3. **Dimensions from the header** — over ``max_width`` x ``max_height`` (4096x4096): 413,
   before a single pixel is decoded, so a 100-megapixel bomb costs a header parse.
   Pillow's own guard (``Image.MAX_IMAGE_PIXELS``, about 89 megapixels) may fire first
   from inside ``Image.open``: a ``DecompressionBombError``, or a
   ``DecompressionBombWarning`` when warnings are errors, gets the same 413. The global is
   never changed, and :class:`ImageLimits` refuses limits above it, so Pillow's guard
   never refuses an image these limits accept.
4. **Whole file** — a PNG's chunks are checked (CRCs, through ``IEND``) and every format
   is decoded with ``ImageFile.LOAD_TRUNCATED_IMAGES`` left off: a truncated or corrupt
   file is 400.
5. **Re-encoding** — only the first frame (an animated GIF, WebP or APNG becomes a still
   image of its first frame: avatars and logos are small and must not play), the EXIF
   orientation applied, fitted within ``output_side`` x ``output_side`` (512x512) keeping
   the aspect ratio, and written out from a fresh image that carries no metadata at all.

Decisions:

* **Output format.** An image keeps its kind where it matters: a PNG stays a PNG (its
  transparency kept), a JPEG stays a JPEG (quality 85). GIF and palette or bilevel
  sources (logos, icons, line art) become PNG, lossless with no JPEG ringing around
  edges; a WebP becomes PNG when it has transparency, else JPEG. Both are readable
  everywhere an avatar URL ends up — browsers, native apps, and e-mail clients, several
  of which still cannot show WebP — so WebP is accepted but never produced.
* **Metadata.** Nothing survives: no EXIF (GPS, camera serials), XMP, comments, text
  chunks, or ICC profile. The ICC profile is dropped rather than applied: it is an
  attacker-supplied binary that would go through LittleCMS, and for a 512-pixel avatar
  the cost — wide-gamut photos look slightly less saturated — is small. Bytes after the
  end of the image (polyglots) are never copied because nothing is copied: the output is
  encoded from pixels only.
* **Cost.** At most ``max_width`` x ``max_height`` pixels of one frame are decoded
  (64 MiB for RGBA at the defaults), JPEGs at a reduced scale when that still covers the
  output size (libjpeg's DCT scaling). Decoding, resizing and encoding release the GIL.
  :func:`process_image` is blocking: async routes call :meth:`ImageProcessor.aprocess`,
  which runs it in a worker thread, at most ``concurrency`` at a time.
"""

from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import dataclass, field
from typing import Final

import anyio
import anyio.to_thread
from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

from ..errors import ApiError

__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT_LIMITS",
    "EMPTY",
    "MIB",
    "NOT_AN_IMAGE",
    "TOO_LARGE",
    "TOO_MANY_PIXELS",
    "UNREADABLE",
    "ImageLimits",
    "ImageProcessor",
    "ImageRejected",
    "ProcessedImage",
    "process_image",
]

MIB: Final = 1024 * 1024

ALLOWED_FORMATS: Final = ("PNG", "JPEG", "WEBP", "GIF")
# A JPEG with a multi-picture (MPF) segment, as many cameras write, opens as "MPO".
_DECODED_FORMATS: Final = frozenset({*ALLOWED_FORMATS, "MPO"})

_SIGNATURES: Final = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")

EMPTY: Final = "empty"
TOO_LARGE: Final = "too_large"
TOO_MANY_PIXELS: Final = "too_many_pixels"
NOT_AN_IMAGE: Final = "not_an_image"
UNREADABLE: Final = "unreadable"

# The messages are for people, so "4096 by 4096" is written with the multiplication sign.
_TIMES: Final = "\u00d7"
_NOT_AN_IMAGE_MESSAGE: Final = "The file is not a PNG, JPEG, WebP or GIF image"
_UNREADABLE_MESSAGE: Final = "The image is truncated or corrupt and cannot be read"

# EXIF Orientation (TIFF tag 274) -> the transposition that makes the pixels upright;
# 1 and unknown values mean "as stored".
_UPRIGHT: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_GREY_MODES: Final = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_DEEP_GREY_MODES: Final = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_GRAPHIC_MODES: Final = frozenset({"1", "P", "PA"})


def _size_words(n: int) -> str:
    if n % MIB == 0:
        return f"{n // MIB} MiB"
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What an upload may be and what comes out.

    :param max_bytes: largest upload in bytes (413 above it).
    :param max_width: widest image in pixels (413 above it).
    :param max_height: tallest image in pixels (413 above it).
    :param output_side: the output fits within this many pixels on each side; smaller
        images are never enlarged.
    :param jpeg_quality: JPEG quality of photo output, 1 to 95.
    :raises ValueError: a limit is not positive, or ``max_width * max_height`` is above
        Pillow's ``Image.MAX_IMAGE_PIXELS`` (Pillow would refuse images these limits allow).

    >>> ImageLimits(max_bytes=2 * MIB).max_bytes
    2097152
    """

    max_bytes: int = 5 * MIB
    max_width: int = 4096
    max_height: int = 4096
    output_side: int = 512
    jpeg_quality: int = 85

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_width", "max_height", "output_side"):
            if getattr(self, name) < 1:
                raise ValueError(f"ImageLimits.{name} must be at least 1")
        if not 1 <= self.jpeg_quality <= 95:
            raise ValueError("ImageLimits.jpeg_quality must be between 1 and 95")
        ceiling = Image.MAX_IMAGE_PIXELS
        if ceiling is not None and self.max_width * self.max_height > ceiling:
            raise ValueError(
                f"ImageLimits allows {self.max_width}x{self.max_height} pixels, more than "
                f"Pillow's decompression-bomb limit of {ceiling} pixels"
            )


DEFAULT_LIMITS: Final = ImageLimits()


class ImageRejected(ApiError):
    """The upload is not an acceptable image: 400, or 413 when it is too large.

    ``reason`` names the rule for logs and tests: ``"empty"``, ``"too_large"`` (bytes),
    ``"too_many_pixels"`` (dimensions, bombs), ``"not_an_image"`` (not one of the four
    types), ``"unreadable"`` (truncated or corrupt). ``message`` is for people.

    >>> ImageRejected(400, "empty", "The file is empty").body()["message"]
    'The file is empty'
    """

    def __init__(self, status_code: int, reason: str, message: str) -> None:
        super().__init__(status_code, message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    """A re-encoded image, ready to store and serve.

    :param data: the encoded bytes (PNG or JPEG), no metadata.
    :param media_type: ``"image/png"`` or ``"image/jpeg"``, the ``Content-Type`` to serve.
    :param width: width in pixels, after orientation.
    :param height: height in pixels, after orientation.
    :param etag: a strong ETag, quoted as the header carries it: the SHA-256 of ``data``.
    """

    data: bytes = field(repr=False)
    media_type: str
    width: int
    height: int
    etag: str

    @property
    def extension(self) -> str:
        """The file extension for URLs: ``"png"`` or ``"jpg"``."""
        return "png" if self.media_type == "image/png" else "jpg"


def _too_many_pixels(limits: ImageLimits) -> ImageRejected:
    return ImageRejected(
        413,
        TOO_MANY_PIXELS,
        f"The image is larger than {limits.max_width}{_TIMES}{limits.max_height} pixels",
    )


def _has_signature(data: bytes) -> bool:
    """Whether ``data`` starts like one of the allowed types (for the message only)."""
    return data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _open(data: bytes, limits: ImageLimits) -> ImageFile.ImageFile:
    """Open (header only) and check the type and the dimensions; no pixel is decoded."""
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(limits) from exc
    except UnidentifiedImageError as exc:
        if _has_signature(data):
            # Pillow says "cannot identify" also for a PNG whose first chunks are damaged;
            # "truncated or corrupt" tells the uploader more. The answer is 400 either way.
            raise ImageRejected(400, UNREADABLE, _UNREADABLE_MESSAGE) from exc
        raise ImageRejected(400, NOT_AN_IMAGE, _NOT_AN_IMAGE_MESSAGE) from exc
    if image.format not in _DECODED_FORMATS:
        image.close()
        raise ImageRejected(400, NOT_AN_IMAGE, _NOT_AN_IMAGE_MESSAGE)
    width, height = image.size
    if width > limits.max_width or height > limits.max_height:
        image.close()
        raise _too_many_pixels(limits)
    if width < 1 or height < 1:
        image.close()
        raise ImageRejected(400, UNREADABLE, _UNREADABLE_MESSAGE)
    return image


def _verify_png(data: bytes) -> None:
    # Pillow's PNG decoder stops once the pixels are complete, so a file cut after its
    # last IDAT, or one with a damaged chunk, would load; verify() walks every chunk to
    # IEND and checks its CRC, without decompressing.
    with Image.open(io.BytesIO(data), formats=("PNG",)) as image:
        image.verify()


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    width, height = size
    scale = min(side / width, side / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _orientation(image: Image.Image) -> int:
    # A broken EXIF block must not cost a good photo its upload: Pillow raises (or warns)
    # in many ways on malformed EXIF, and "as stored" is the safe reading.
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) else 1


def _is_graphic(image: Image.Image) -> bool:
    """Whether the output should be lossless PNG: a PNG or GIF, transparency, palette, bilevel."""
    return (
        image.format in {"PNG", "GIF"}
        or image.mode in _GRAPHIC_MODES
        or "A" in image.mode
        or "transparency" in image.info
    )


def _normalise(image: Image.Image) -> Image.Image:
    """The frame in L, LA, RGB or RGBA: the modes that resize well and both encoders take."""
    alpha = "A" in image.mode or "transparency" in image.info
    if image.mode in _DEEP_GREY_MODES:
        # 16-bit grey (PNG): convert("L") would clip every value above 255 to white.
        scaled = image.convert("I").point(lambda v: v * (1 / 256))
        return scaled.convert("L")
    grey = image.mode in _GREY_MODES
    target = ("LA" if alpha else "L") if grey else ("RGBA" if alpha else "RGB")
    return image if image.mode == target else image.convert(target)


def _decode(image: ImageFile.ImageFile, limits: ImageLimits) -> tuple[Image.Image, bool]:
    """Decode the first frame and turn it into an upright, fitted, metadata-free image."""
    target = _fit(image.size, limits.output_side)
    image.draft(None, target)
    image.load()
    graphic = _is_graphic(image)
    orientation = _orientation(image)
    frame = _normalise(image)
    if frame.size != target:
        frame = frame.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)
    if orientation in _UPRIGHT:
        frame = frame.transpose(_UPRIGHT[orientation])
    # A new image has an empty info dict: no EXIF, XMP, ICC profile, comment or text
    # chunk can reach the encoder, whatever a plugin decides to copy by default.
    clean = Image.new(frame.mode, frame.size)
    clean.paste(frame)
    return clean, graphic


def _encode(image: Image.Image, graphic: bool, limits: ImageLimits) -> ProcessedImage:
    out = io.BytesIO()
    if graphic:
        image.save(out, "PNG")
        media_type = "image/png"
    else:
        image.save(out, "JPEG", quality=limits.jpeg_quality, optimize=True)
        media_type = "image/jpeg"
    data = out.getvalue()
    return ProcessedImage(
        data=data,
        media_type=media_type,
        width=image.width,
        height=image.height,
        etag=f'"{hashlib.sha256(data).hexdigest()}"',
    )


def process_image(
    data: bytes,
    *,
    filename: str | None = None,
    content_type: str | None = None,
    limits: ImageLimits = DEFAULT_LIMITS,
) -> ProcessedImage:
    """Check an uploaded image and re-encode it for storage (see the module docstring).

    Blocking and CPU-bound: from async code use :meth:`ImageProcessor.aprocess`.

    :param data: the uploaded bytes.
    :param filename: the declared file name; ignored, only the bytes decide.
    :param content_type: the declared content type; ignored, only the bytes decide.
    :param limits: the limits to apply.
    :raises ImageRejected: 400 when empty, not a PNG, JPEG, WebP or GIF image, truncated
        or corrupt; 413 when over ``max_bytes`` or over ``max_width`` x ``max_height``.

    >>> out = process_image(png_bytes, filename="me.svg")  # doctest: +SKIP
    >>> out.media_type, out.width <= 512
    ('image/png', True)
    """
    # http-api.md: the type is decided by decoding the bytes, never by the client's word.
    del filename, content_type
    if not data:
        raise ImageRejected(400, EMPTY, "The file is empty")
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            413, TOO_LARGE, f"The image is larger than {_size_words(limits.max_bytes)}"
        )
    try:
        with _open(data, limits) as image:
            if image.format == "PNG":
                _verify_png(data)
            clean, graphic = _decode(image, limits)
    except ImageRejected:
        raise
    except MemoryError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(limits) from exc
    except Exception as exc:
        # Pillow's parsers answer hostile input with OSError, SyntaxError, ValueError,
        # EOFError, struct.error, zlib.error, IndexError and more (or warnings, when
        # warnings are errors); every one of them means "cannot be read", not a 500.
        raise ImageRejected(400, UNREADABLE, _UNREADABLE_MESSAGE) from exc
    return _encode(clean, graphic, limits)


class ImageProcessor:
    """Process uploads with fixed limits, off the event loop, a bounded number at a time.

    One per server (e.g. on the server context), shared by the avatar and logo routes.

    :param limits: the limits to apply.
    :param concurrency: how many images may be processed at once; the others wait.

    >>> processor = ImageProcessor(ImageLimits(), concurrency=2)
    >>> image = await processor.aprocess(upload_bytes)  # doctest: +SKIP
    """

    def __init__(self, limits: ImageLimits = DEFAULT_LIMITS, *, concurrency: int = 2) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.limits = limits
        self.limiter = anyio.CapacityLimiter(concurrency)

    def process(
        self, data: bytes, *, filename: str | None = None, content_type: str | None = None
    ) -> ProcessedImage:
        """:func:`process_image` with this processor's limits, in the calling thread."""
        return process_image(
            data, filename=filename, content_type=content_type, limits=self.limits
        )

    async def aprocess(
        self, data: bytes, *, filename: str | None = None, content_type: str | None = None
    ) -> ProcessedImage:
        """:func:`process_image` in a worker thread, waiting for one of ``limiter``'s slots.

        :raises ImageRejected: as :func:`process_image`.
        """
        work = functools.partial(
            process_image, data, filename=filename, content_type=content_type,
            limits=self.limits,
        )
        return await anyio.to_thread.run_sync(work, limiter=self.limiter)
