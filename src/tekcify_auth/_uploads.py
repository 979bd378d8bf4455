"""Files to upload: bytes, a path or a binary file object, with a name and a type.

The content type is taken from the bytes' magic numbers, as the server itself decides
by decoding the bytes (``http-api.md``, "Uploaded images"), never from the file name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, Final, TypeAlias

__all__ = ["MAX_UPLOAD_BYTES", "FileInput", "Upload", "read_upload", "sniff_image_type"]

#: What an upload method takes: the bytes, a path, or a file object opened in binary mode.
FileInput: TypeAlias = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]

#: A file larger than this is refused before it is sent (the server's own limit is 5 MiB).
MAX_UPLOAD_BYTES: Final = 64 * 1024 * 1024

_OCTET_STREAM: Final = "application/octet-stream"
_EXTENSIONS: Final = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
}


@dataclass(frozen=True, slots=True)
class Upload:
    """One file ready for a ``multipart/form-data`` field."""

    file_name: str
    content: bytes
    content_type: str


def sniff_image_type(data: bytes) -> str:
    """The image type the magic numbers of ``data`` announce, else ``application/octet-stream``.

    >>> sniff_image_type(b"\\x89PNG\\r\\n\\x1a\\n...")
    'image/png'
    >>> sniff_image_type(b"%PDF-1.7")
    'application/octet-stream'
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return _OCTET_STREAM


def read_upload(
    file: FileInput, file_name: str | None = None, content_type: str | None = None
) -> Upload:
    """Read ``file`` into an :class:`Upload`.

    ``file`` is bytes (or a bytearray or memoryview), a path (``str`` or
    :class:`os.PathLike`: a ``str`` is always a path, never content), or a file object
    opened in binary mode. ``file_name`` defaults to the path's or file object's base
    name, else ``file`` plus the extension of the sniffed type; ``content_type``
    defaults to the sniffed type. Raises ``TypeError`` for a text-mode file or another
    type, ``ValueError`` past :data:`MAX_UPLOAD_BYTES`, ``OSError`` when the path
    cannot be read.
    """
    name: str | None = None
    if isinstance(file, bytes | bytearray | memoryview):
        content = bytes(file)
    elif isinstance(file, str | os.PathLike):
        path = os.fspath(file)
        with open(path, "rb") as handle:
            content = _read_capped(handle)
        name = os.path.basename(path)
    elif hasattr(file, "read"):
        content = _read_capped(file)
        raw_name = getattr(file, "name", None)
        if isinstance(raw_name, str) and raw_name:
            name = os.path.basename(raw_name)
    else:
        raise TypeError(
            f"file must be bytes, a path or a binary file object, not {type(file).__name__}"
        )
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValueError(f"file is larger than {MAX_UPLOAD_BYTES} bytes")
    sniffed = sniff_image_type(content)
    if file_name is None:
        file_name = name or "file" + _EXTENSIONS.get(sniffed, "")
    return Upload(file_name, content, content_type or sniffed)


def _read_capped(handle: IO[bytes]) -> bytes:
    content = bytearray()
    # One byte past the cap is enough to know the file is too large. A raw (unbuffered)
    # file may return fewer bytes than asked for, so read until end of file.
    while len(content) <= MAX_UPLOAD_BYTES:
        chunk = handle.read(MAX_UPLOAD_BYTES + 1 - len(content))
        if not isinstance(chunk, bytes | bytearray):
            if chunk is None:  # a non-blocking raw stream with nothing ready
                raise TypeError("the file object must be a blocking binary file")
            raise TypeError("the file object must be opened in binary mode ('rb')")
        if not chunk:
            break
        content += chunk
    return bytes(content)
