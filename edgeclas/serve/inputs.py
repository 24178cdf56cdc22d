"""Request bodies → named image bytes: a raw image, multipart files, or JSON ``{"images": [base64…]}``.

Everything here refuses bad input with a :class:`RequestError` (a 4xx and a one-line reason) and
nothing here decodes pixels: that happens after :func:`edgeclas.serve.images.check_image`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator

from .errors import RequestError

__all__ = ["Upload", "MAX_IMAGES", "read_body", "parse_predict_body", "parse_multipart", "b64_image", "json_object"]

# Images in one request: each becomes its own queue entry, so one request cannot starve the others for long.
MAX_IMAGES = 64
# A body over the limit is still read (and dropped) up to this many times the limit, so that the client,
# still sending, receives the 413 instead of a connection reset; beyond it the connection is cut.
_DRAIN_FACTOR = 4

USAGE = 'send an image as the raw body, as multipart file(s), or as JSON {"images": ["<base64>", ...]}'


@dataclass(frozen=True)
class Upload:
    name: str  # how the answer names it: the file name, ?name=, or images[i]
    data: bytes


def _too_large(size: str, limit: int) -> RequestError:
    return RequestError(413, "body_too_large", f"request body of {size} bytes is above the limit of {limit:,} bytes "
                        "(--max-body-mb)", hint="send fewer or smaller images per request")


async def read_body(headers: Any, stream: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes; 413 above it (checked on Content-Length first)."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > _DRAIN_FACTOR * limit:
        raise _too_large(f"{int(declared):,}", limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > _DRAIN_FACTOR * limit:
            raise _too_large(f"more than {_DRAIN_FACTOR * limit:,}", limit)
    if size > limit:
        raise _too_large(f"{size:,}", limit)
    return b"".join(chunks)


def b64_image(text: Any, name: str) -> bytes:
    """Base64 (optionally a ``data:image/…;base64,`` URI) → bytes; 400 naming ``name`` when it is not."""
    if not isinstance(text, str) or not text:
        raise RequestError(400, "bad_request", f"{name}: expected a non-empty base64 string, got {type(text).__name__}")
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or not head.endswith(";base64"):
            raise RequestError(400, "bad_request", f"{name}: a data: URI must be base64 (data:image/png;base64,...)")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise RequestError(400, "bad_request", f"{name}: not valid base64 ({e})") from None


def json_object(body: bytes) -> dict[str, Any]:
    """``body`` parsed as a JSON object; 400 with the parser's line and column when it is not."""
    try:
        obj = json.loads(body)
    except UnicodeDecodeError:
        raise RequestError(400, "bad_json", "body is not UTF-8 JSON") from None
    except json.JSONDecodeError as e:
        raise RequestError(400, "bad_json", f"body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(obj, dict):
        raise RequestError(400, "bad_json", f"body is JSON {type(obj).__name__}, expected an object")
    return obj


def _check_count(n: int) -> None:
    if n == 0:
        raise RequestError(400, "bad_request", f"no image in the request: {USAGE}")
    if n > MAX_IMAGES:
        raise RequestError(413, "too_many_images", f"{n} images in one request, at most {MAX_IMAGES}",
                           hint="split them over several requests (the server batches concurrent requests)")


def _json_images(body: bytes) -> list[Upload]:
    obj = json_object(body)
    images = obj.get("images")
    if not isinstance(images, list):
        found = "no" if images is None else f"a {type(images).__name__}"
        raise RequestError(400, "bad_request", f'JSON body has {found} "images" key, expected a list of base64 strings')
    _check_count(len(images))
    names = obj.get("names")
    if names is not None and (not isinstance(names, list) or len(names) != len(images)
                              or not all(isinstance(n, str) for n in names)):
        raise RequestError(400, "bad_request", f'"names" must be a list of {len(images)} strings, one per image')
    names = names or [f"images[{i}]" for i in range(len(images))]
    return [Upload(name, b64_image(text, name)) for name, text in zip(names, images)]


def parse_predict_body(content_type: str, body: bytes, name: str | None) -> list[Upload]:
    """``/predict`` without multipart: JSON (by Content-Type, or a body starting with ``{``) or one raw image.

    A raw image is recognised whatever its Content-Type, because ``curl --data-binary @img.png`` sends
    ``application/x-www-form-urlencoded``; no image format starts with ``{``.
    """
    if not body:
        raise RequestError(400, "bad_request", f"empty body: {USAGE}")
    if content_type == "application/json" or body.lstrip()[:1] == b"{":
        return _json_images(body)
    return [Upload(name or "image", body)]


async def parse_multipart(content_type: str, body: bytes) -> list[Upload]:
    """Every file part of a ``multipart/form-data`` body (``content_type``: the whole header, with its
    boundary), named by its file name, else by its field name."""
    from starlette.datastructures import Headers
    from starlette.formparsers import MultiPartException, MultiPartParser

    headers = Headers(raw=[(b"content-type", content_type.encode("latin-1"))])

    async def replay() -> AsyncIterator[bytes]:
        yield body

    try:  # files are counted below (a 413 like JSON's); the body limit already bounds them
        form = await MultiPartParser(headers, replay(), max_files=float("inf"), max_fields=MAX_IMAGES).parse()
    except MultiPartException as e:
        raise RequestError(400, "bad_request", f"malformed multipart body: {e.message}") from None
    try:
        files = [(key, value) for key, value in form.multi_items() if not isinstance(value, str)]
        _check_count(len(files))
        return [Upload(f.filename or key, await f.read()) for key, f in files]
    finally:
        await form.close()
