"""SQS's receipt handles: an opaque handle per receive of a message, naming its queue, the
message and the receive's lease (lambeam.events.messages re-exports both functions).

    handle = receipt_handle("orders", message.id, message.lease)
    parse_receipt_handle("orders", handle)      # Receipt(message.id, message.lease)
"""

from __future__ import annotations

import base64
import re
from typing import Any

from lambeam.errors import ReceiptHandleError
from lambeam.events.queue import Receipt

__all__ = ["parse_receipt_handle", "receipt_handle"]

_LEASE = re.compile(r"[0-9a-f]{32}")


def receipt_handle(queue: str, message_id: str, lease: str) -> str:
    """An opaque receipt handle naming the queue, the message and the receive's lease."""
    raw = f"{queue}\x00{message_id}\x00{lease}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def parse_receipt_handle(queue: str, handle: Any) -> Receipt:
    """The receipt a handle from `receive` stands for; ReceiptHandleError for anything else
    (malformed, or given out by another queue)."""
    try:
        if not isinstance(handle, str) or len(handle) > 1024:
            raise ValueError
        raw = base64.urlsafe_b64decode(handle.encode("ascii")).decode("utf-8")
        named, message_id, lease = raw.split("\x00")
    except (ValueError, UnicodeError):
        raise _invalid(handle) from None
    if named != queue or not message_id or len(message_id) > 36 or not _LEASE.fullmatch(lease):
        raise _invalid(handle)
    return Receipt(message_id, lease)


def _invalid(handle: Any) -> ReceiptHandleError:
    shown = handle[:80] + "…" if isinstance(handle, str) and len(handle) > 80 else handle
    return ReceiptHandleError(
        f'The input receipt handle "{shown}" is not a valid receipt handle (it must be one a'
        " ReceiveMessage of this queue answered)."
    )
