"""What an uploaded image is, read from its header before a single pixel is decoded.

A server that hands every upload to the decoder can be made to allocate gigabytes by a few
kilobytes: a PNG of zeros that inflates to 40000×40000, or a 1×40000 strip that the short-side
resize (to 256) turns into 256×10 240 000 float pixels. :func:`check_image` refuses both from the
header alone, and refuses truncated files that some decoders (OpenCV 4's libjpeg) would otherwise
fill with grey and classify. Only the formats ``predict`` reads are accepted: JPEG, PNG, BMP.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..preprocess import PreprocessConfig, resize_short_size
from .errors import RequestError

__all__ = ["ImageHeader", "read_header", "check_image"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); C4, C8 and CC are not frames.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length: TEM, RST0-7, SOI.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8), 0xD8})


@dataclass(frozen=True)
class ImageHeader:
    format: str  # "jpeg" | "png" | "bmp"
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _truncated(fmt: str, what: str) -> RequestError:
    return RequestError(400, "truncated_image", f"truncated {fmt}: {what}", hint="send the whole file")


def _corrupt(fmt: str, what: str) -> RequestError:
    return RequestError(400, "corrupt_image", f"corrupt {fmt}: {what}")


def _png(data: bytes) -> ImageHeader:
    if len(data) < 33:
        raise _truncated("PNG", f"{len(data)} bytes end inside the IHDR chunk")
    if data[12:16] != b"IHDR":
        raise _corrupt("PNG", "the first chunk is not IHDR")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    # IEND closes every complete PNG; a file cut anywhere after the header lacks it.
    if data.rfind(b"IEND", 33) < 0:
        raise _truncated("PNG", "no IEND chunk")
    return ImageHeader("png", width, height)


def _jpeg(data: bytes) -> ImageHeader:
    i, n = 2, len(data)
    while True:
        if i + 4 > n:
            raise _truncated("JPEG", f"the data ends at byte {n} before a frame header")
        if data[i] != 0xFF:
            raise _corrupt("JPEG", f"no marker at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        if marker == 0xD9:
            raise _corrupt("JPEG", "end of image before any frame header")
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2:
            raise _corrupt("JPEG", f"segment length {length} at byte {i}")
        if marker in _JPEG_SOF:
            if i + 9 > n:
                raise _truncated("JPEG", "the data ends inside the frame header")
            height, width = int.from_bytes(data[i + 5 : i + 7], "big"), int.from_bytes(data[i + 7 : i + 9], "big")
            # The scan data cannot contain FF D9 (FF is stuffed as FF 00): the end-of-image marker after
            # the frame header is the end of the picture, so a file cut inside its scans lacks it.
            if data.rfind(b"\xff\xd9", i + 2 + length) < 0:
                raise _truncated("JPEG", "no end-of-image marker")
            return ImageHeader("jpeg", width, height)
        i += 2 + length


def _bmp(data: bytes) -> ImageHeader:
    if len(data) < 30:
        raise _truncated("BMP", f"{len(data)} bytes end inside the header")
    header_size = int.from_bytes(data[14:18], "little")
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
        bits, compression = int.from_bytes(data[24:26], "little"), 0
    elif header_size >= 40:
        if len(data) < 34:
            raise _truncated("BMP", f"{len(data)} bytes end inside the header")
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = abs(int.from_bytes(data[22:26], "little", signed=True))  # negative: rows stored top-down
        bits, compression = int.from_bytes(data[28:30], "little"), int.from_bytes(data[30:34], "little")
    else:
        raise _corrupt("BMP", f"unknown header size {header_size}")
    if width <= 0 or height <= 0:
        raise _corrupt("BMP", f"size {width}x{height}")
    if compression in (0, 3) and bits:  # uncompressed rows (BI_RGB, BI_BITFIELDS) have a known size
        offset = int.from_bytes(data[10:14], "little")
        need = offset + ((width * bits + 31) // 32) * 4 * height
        if len(data) < need:
            raise _truncated("BMP", f"{len(data)} of {need} bytes")
    return ImageHeader("bmp", width, height)


def read_header(data: bytes) -> ImageHeader:
    """Format and size of a JPEG, PNG or BMP from its header; :class:`RequestError` for anything else."""
    if data.startswith(_PNG_MAGIC):
        head = _png(data)
    elif data.startswith(b"\xff\xd8\xff"):
        head = _jpeg(data)
    elif data.startswith(b"BM") and len(data) >= 18:
        head = _bmp(data)
    else:
        start = data[:8].hex(" ") if data else "nothing"
        raise RequestError(415, "not_an_image", f"not a JPEG, PNG or BMP image (starts with {start})")
    if head.width <= 0 or head.height <= 0:
        raise _corrupt(head.format.upper(), f"size {head.width}x{head.height}")
    return head


def check_image(data: bytes, name: str, max_pixels: int, cfg: PreprocessConfig) -> ImageHeader:
    """The header of ``data`` if the server may decode it: a known format, whole, and within ``max_pixels``
    both as stored and after the model's short-side resize. Errors name the image."""
    try:
        head = read_header(data)
    except RequestError as e:
        raise RequestError(e.status, e.kind, f"{name}: {e.message}", hint=e.hint) from None
    limit = f"the limit of {max_pixels:,} pixels (--max-pixels)"
    if head.pixels > max_pixels:
        raise RequestError(413, "too_many_pixels", f"{name}: {head.width}x{head.height} {head.format.upper()} is "
                           f"{head.pixels:,} pixels, above {limit}", hint="send a smaller image")
    rw, rh = resize_short_size(head.width, head.height, cfg.resize_short)
    if rw * rh > max_pixels:
        raise RequestError(413, "too_many_pixels", f"{name}: {head.width}x{head.height} resized to short side "
                           f"{cfg.resize_short} is {rw}x{rh}, above {limit}",
                           hint="crop the image to a less extreme aspect ratio")
    return head
