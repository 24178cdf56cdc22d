"""Paddle Serving's pipeline HTTP protocol, as PaddleClas's ``deploy/paddleserving`` speaks it.

PaddleClas's ``pipeline_http_client.py`` posts, to ``http://HOST:PORT/imagenet/prediction`` and
without a Content-Type (``requests.post(url, data=json.dumps(data))``)::

    {"key": ["image"], "value": ["<base64 of the image file's bytes>"]}

Paddle Serving unpacks ``key[i] → value[i]`` into one dict; PaddleClas's ``ImagenetOp`` decodes
every value as an image (several pairs make a batch, answered in key order) and its postprocess
returns, per image, the top-1 label with commas removed and its probability, each list ``str()``-ed.
The pipeline's ``Response`` message reaches the client through Paddle Serving's HTTP gateway with
default values emitted::

    {"err_no": 0, "err_msg": "", "key": ["label", "prob"], "value": ["['daisy']", "[0.93414]"], "tensors": []}

(PaddleClas's documented answer for daisy.jpg, except that edgeclas rounds scores to 5 decimals as
``predict`` does.) Errors keep this shape with ``err_no`` from Paddle Serving's ``CustomExceptionCode``
and the reason in ``err_msg``, sent with the HTTP status ``/predict`` would use.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..predict import Prediction
from .errors import RequestError
from .inputs import MAX_IMAGES, Upload, b64_image, json_object

__all__ = ["parse_request", "answer", "error_answer", "ERR_NO"]

# Paddle Serving's CustomExceptionCode values for the errors the server can answer with.
ERR_NO = {"input": 5000, "not_ready": 3002, "inference": 9000}


def parse_request(body: bytes) -> list[Upload]:
    """The images of a pipeline request, named by their keys; 400/413 for anything else."""
    obj = json_object(body)
    keys, values = obj.get("key"), obj.get("value")
    if not isinstance(keys, list) or not isinstance(values, list):
        raise RequestError(400, "bad_request", 'pipeline request needs "key" and "value" lists '
                           '(as pipeline_http_client.py sends: {"key": ["image"], "value": ["<base64>"]})')
    if len(keys) != len(values):
        raise RequestError(400, "bad_request", f'pipeline request has {len(keys)} keys for {len(values)} values')
    if not keys:
        raise RequestError(400, "bad_request", 'pipeline request has no key/value pair')
    if len(keys) > MAX_IMAGES:
        raise RequestError(413, "too_many_images", f"{len(keys)} images in one request, at most {MAX_IMAGES}")
    if not all(isinstance(k, str) for k in keys):
        raise RequestError(400, "bad_request", 'pipeline "key" entries must be strings')
    # Paddle Serving builds a dict: a repeated key keeps its last value.
    pairs = dict(zip(keys, values))
    return [Upload(k, b64_image(v, f"value of key '{k}'")) for k, v in pairs.items()]


def answer(predictions: Sequence[Prediction]) -> dict[str, Any]:
    """The pipeline answer for ``predictions`` (one per image, request order): top-1 label and probability."""
    labels = [p.label_names[0].strip().replace(",", "") for p in predictions]
    probs = [p.scores[0] for p in predictions]
    return {"err_no": 0, "err_msg": "", "key": ["label", "prob"], "value": [str(labels), str(probs)], "tensors": []}


def error_answer(err: RequestError) -> dict[str, Any]:
    if err.status == 503:
        code = ERR_NO["not_ready"]
    elif err.status >= 500:
        code = ERR_NO["inference"]
    else:
        code = ERR_NO["input"]
    return {"err_no": code, "err_msg": err.message, "key": [], "value": [], "tensors": []}
