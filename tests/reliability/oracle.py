"""What docs/protocol.md says the server answers to one client frame, computed independently of the server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_FRAME_BYTES = 65536
MAX_TEXT = 4000
MAX_CLIENT_ID = 64
MAX_READ_SEQ = 2**31
# Nesting beyond what Python's JSON parser takes at the server's recursion limit is "not valid JSON";
# below this depth it never is.
SAFE_DEPTH = 500
ERROR_CODES = {"bad_request", "unknown_type", "too_long", "rate_limited", "dialog_closed", "unavailable"}
SENDER = {"admin": "operator", "site": "user", "widget": "user"}


@dataclass(frozen=True)
class Expect:
    """One outcome: ``error`` with a code, an echoed ``message``/``typing``/``read``, ``none``, or ``close``."""

    kind: str
    code: str | int | None = None
    payload: Any = None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def nesting_depth(frame: str) -> int:
    """How deeply arrays and objects nest in the frame (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in frame:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def frame_outcomes(pool: str, frame: str, stored_client_ids: set[str]) -> list[Expect]:
    """Every answer the docs allow to the frame (more than one only for very deep nesting)."""
    outcome = frame_outcome(pool, frame, stored_client_ids)
    if outcome.kind != "close" and nesting_depth(frame) > SAFE_DEPTH:
        return [outcome, Expect("error", "bad_request")]
    return [outcome]


def frame_outcome(pool: str, frame: str, stored_client_ids: set[str]) -> Expect:
    """The documented answer of a socket of ``pool`` to the text frame."""
    if len(frame.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        return Expect("close", 1009)
    if frame == "__pong__":
        return Expect("none")
    try:
        data = json.loads(frame)
    except (ValueError, RecursionError):
        return Expect("error", "bad_request")
    if not isinstance(data, dict):
        return Expect("error", "bad_request")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in ("message", "typing", "read"):
        return Expect("error", "unknown_type")
    shape = _shape_error(kind, data)
    if shape is not None or pool == "inbox":
        return Expect("error", shape or "bad_request")
    if kind == "typing":
        return Expect("typing", payload={"sender": SENDER[pool], "state": data["state"]})
    if kind == "read":
        return Expect("read", payload={"reader": SENDER[pool], "seq": data["seq"]})
    return _message_outcome(pool, data, stored_client_ids)


def _shape_error(kind: str, data: dict[str, Any]) -> str | None:
    # Types are strict: no coercion of numbers to strings or of booleans to integers.
    if kind == "message":
        text, client_id = data.get("text"), data.get("client_id")
        if not isinstance(text, str):
            return "bad_request"
        if client_id is not None and (not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID):
            return "bad_request"
    elif kind == "typing":
        if data.get("state") not in ("start", "stop") or not isinstance(data.get("state"), str):
            return "bad_request"
    else:
        seq = data.get("seq")
        if not _is_int(seq) or not 0 <= seq <= MAX_READ_SEQ:
            return "bad_request"
    return None


def _message_outcome(pool: str, data: dict[str, Any], stored_client_ids: set[str]) -> Expect:
    text: str = data["text"]
    client_id: str | None = data.get("client_id")
    if not text.strip():
        return Expect("error", "bad_request")
    if len(text) > MAX_TEXT:
        return Expect("error", "too_long")
    if "\x00" in text or _has_surrogate(text):
        return Expect("error", "bad_request")
    if client_id is not None and (client_id == "" or _has_surrogate(client_id)):
        return Expect("error", "bad_request")
    if client_id is not None and client_id in stored_client_ids:
        return Expect("none")  # a retried send: the stored message is not published again
    return Expect("message", payload={"sender": SENDER[pool], "text": text, "client_id": client_id})


def matches(expect: Expect, events: list[dict[str, Any]]) -> bool:
    """True when the events the socket got before the barrier are exactly the expected outcome."""
    if expect.kind == "none":
        return events == []
    if len(events) != 1:
        return False
    event = events[0]
    if expect.kind == "error":
        return event["type"] == "error" and event["code"] == expect.code and bool(event.get("detail"))
    if event["type"] != expect.kind:
        return False
    if expect.kind == "message":
        message = event["message"]
        return all(message[k] == v for k, v in expect.payload.items()) and isinstance(message["seq"], int)
    return all(event[k] == v for k, v in expect.payload.items())
