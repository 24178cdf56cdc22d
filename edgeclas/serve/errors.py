"""The one error a request can end in: an HTTP status, a kind (the ``errors_total`` label) and a one-line reason."""

from __future__ import annotations

from ..errors import DataError

__all__ = ["RequestError"]


class RequestError(DataError):
    """A request the server refuses or could not answer.

    ``status`` is the HTTP status (4xx for anything the client sent, 503 while the model loads or the
    queue is full, 500 only for a failure of the server's own engine), ``kind`` a short stable name
    counted in ``/metrics`` (``not_an_image``, ``too_many_pixels``, …). The message is one line.
    """

    def __init__(self, status: int, kind: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.kind = kind
