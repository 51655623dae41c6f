"""The SQS API: SQS's JSON protocol on `POST /`, enough for an unmodified boto3 `sqs` client.

    sqs = boto3.client("sqs", endpoint_url="http://127.0.0.1:8000", region_name="us-east-1",
                       aws_access_key_id=..., aws_secret_access_key=...)

Each request names its action in `X-Amz-Target: AmazonSQS.<Action>` (which the signature must
cover) and carries its parameters as a JSON object (`application/x-amz-json-1.0`). It is
authenticated with Signature V4 exactly as the Lambda API is (lambeam.server._signed, scope
`sqs`), and the key's policy must allow `sqs:<Action>` on the queue's ARN
(`arn:aws:sqs:{region}:{account}:{name}`); a batch action asks for its single action, as IAM
does (SendMessageBatch needs sqs:SendMessage). Queue URLs are `http://{host}/{account}/{name}`.
Errors are SQS's: `{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": …}` and the
query protocol's code in `x-amzn-query-error` (`AWS.SimpleQueueService.NonExistentQueue;Sender`),
from which botocore raises the modeled exception (`client.exceptions.QueueDoesNotExist`).
The actions themselves are lambeam.server._sqs_actions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lambeam.errors import LambeamError, UnsupportedOperationError
from lambeam.invoke import RequestTooLargeError
from lambeam.security import (
    INVALID_SIGNATURE,
    MISSING_AUTHENTICATION_TOKEN,
    AccessDeniedError,
    AuthenticationError,
)
from lambeam.server._gateway import Gateway, endpoint
from lambeam.server._requests import json_object
from lambeam.server._signed import signed, signed_header
from lambeam.server._sqs_actions import ACTIONS
from lambeam.server._sqs_call import MAX_REQUEST_BYTES, Call, SqsSession, query_code

__all__ = ["CONTENT_TYPE", "TARGET_PREFIX", "sqs_routes"]

_log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "AmazonSQS."
_AUTH_CODES = {
    MISSING_AUTHENTICATION_TOKEN: "MissingAuthenticationToken",
    INVALID_SIGNATURE: "SignatureDoesNotMatch",
}


def sqs_routes() -> list[BaseRoute]:
    """The SQS API's one route; its state (the group commit of sends) is this app's own."""
    session = SqsSession()
    admit = signed(MAX_REQUEST_BYTES, service="sqs")

    async def handle(request: Request, gw: Gateway, body: bytes) -> Response:
        target = signed_header(request, "x-amz-target") or ""
        if not target.startswith(TARGET_PREFIX):
            raise UnsupportedOperationError(
                "the SQS API needs a signed X-Amz-Target: AmazonSQS.<Action> header (boto3's"
                " sqs client sends one)"
            )
        action = target[len(TARGET_PREFIX) :]
        run = ACTIONS.get(action)
        if run is None:
            raise _unsupported(action)
        call = Call(request, gw, json_object(body, f"the {action} request"), action, session)
        answer = await run(call)
        content = b"" if answer is None else json.dumps(answer).encode()
        return Response(content, media_type=CONTENT_TYPE)

    async def remember_key(request: Request, gw: Gateway) -> Any:
        admitted = await admit(request, gw)
        request.state.key = admitted.key  # each action authorizes on its own queue's ARN
        return admitted

    answer: Callable[[Request], Awaitable[Response]] = endpoint(handle, remember_key, _error, None)
    return [Route("/", answer, methods=["POST"])]


def _unsupported(action: str) -> UnsupportedOperationError:
    return UnsupportedOperationError(
        f"lambeam's SQS API does not implement {action}; it implements {', '.join(sorted(ACTIONS))}"
    )


def _error(exc: Exception) -> Response:
    """The one place SQS API errors are put on the wire."""
    status, shape, code, fault = 400, "InvalidParameterValue", "", "Sender"
    prefix = "com.amazonaws.sqs#"
    if isinstance(exc, AuthenticationError):
        status, prefix = 403, "com.amazon.coral.service#"
        shape = _AUTH_CODES.get(exc.error_code, "InvalidClientTokenId")
    elif isinstance(exc, AccessDeniedError):
        status, prefix, shape, code = (
            403,
            "com.amazon.coral.service#",
            "AccessDenied",
            "AccessDenied",
        )
    elif isinstance(exc, UnsupportedOperationError):
        shape = "UnsupportedOperation"
    elif isinstance(exc, RequestTooLargeError):
        exc = LambeamError(
            f"One or more parameters are invalid. Reason: the request is larger than SQS takes"
            f" ({exc})"
        )
    elif isinstance(exc, LambeamError) and hasattr(exc, "sqs_error"):
        shape = exc.sqs_error[0]
        if exc.http_status >= 500:
            status, fault = 500, "Receiver"
    elif isinstance(exc, LambeamError) and exc.http_status < 500:
        shape = "InvalidParameterValue"
    else:
        _log.exception("the SQS API failed", exc_info=exc)
        status, shape, fault = 500, "InternalError", "Receiver"
    message = str(exc) if isinstance(exc, LambeamError) else "internal error"
    return Response(
        json.dumps({"__type": prefix + shape, "message": message}).encode(),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-query-error": f"{code or query_code(shape)};{fault}"},
    )
