"""The protocol module: client frames parsed, events built, close codes named."""

from __future__ import annotations

import json

import pytest

from replyx import wire
from replyx.realtime import protocol
from replyx.realtime.protocol import MessageFrame, ProtocolError, ReadFrame, TypingFrame, parse_client_frame


def test_valid_frames_parse_into_their_types() -> None:
    assert parse_client_frame('{"type":"message","text":"hi","client_id":"c"}') == MessageFrame(
        type="message", text="hi", client_id="c"
    )
    assert isinstance(parse_client_frame('{"type":"typing","state":"stop"}'), TypingFrame)
    assert parse_client_frame('{"type":"read","seq":3}') == ReadFrame(type="read", seq=3)


def test_a_client_chosen_sender_is_ignored() -> None:
    frame = parse_client_frame('{"type":"message","text":"hi","sender":"operator"}')
    assert not hasattr(frame, "sender")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("nope", "bad_request"),
        ("42", "bad_request"),
        ('{"type":"explode"}', "unknown_type"),
        ('{"text":"no type"}', "unknown_type"),
        ('{"type":"message","text":1}', "bad_request"),
        ('{"type":"read","seq":"3"}', "bad_request"),
        ('{"type":"read","seq":1e400}', "bad_request"),
        ('{"type":"message","text":"x","client_id":"' + "c" * 65 + '"}', "bad_request"),
    ],
)
def test_bad_frames_raise_protocol_errors(frame: str, code: str) -> None:
    with pytest.raises(ProtocolError) as error:
        parse_client_frame(frame)
    assert error.value.code == code


def test_events_serialize_once_as_compact_utf8_json() -> None:
    event = wire.message_event(7, {"seq": 1, "text": "привет"})
    data = wire.encode(event)
    assert "привет" in data and " " not in data.replace("привет", "")
    assert json.loads(data) == {"type": "message", "dialog_id": 7, "message": {"seq": 1, "text": "привет"}}


def test_close_codes_say_whether_to_retry() -> None:
    retry = {c for c, v in protocol.CLOSE_CODES.items() if v.retryable}
    assert retry == {1001, 1011, 1012, 1013, 4008}
    assert {4001, 4003, 4004, 1009} <= set(protocol.CLOSE_CODES) - retry


def test_frames_pydantic_refuses_in_one_pass_are_judged_as_json_loads_reads_them() -> None:
    # A lone surrogate is valid JSON to Python but not to pydantic-core: the frame still parses, and
    # the write path refuses the text itself (validate_text) with its own message.
    frame = parse_client_frame('{"type":"message","text":"a\\ud800b"}')
    assert frame == MessageFrame(type="message", text="a\ud800b")
    assert parse_client_frame('{"type":"message","text":"x","extra":NaN}') == MessageFrame(type="message", text="x")


def test_an_event_for_the_broker_is_its_json_text_carrying_the_event() -> None:
    event = wire.message_event(7, {"seq": 1, "text": "привет"})
    text = wire.encode_for_broker(event)
    assert text == wire.encode(event) and isinstance(text, str)
    assert text.event is event


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "привет 👋🏽 ünïcödé",
        'quotes " and \\ backslashes / slashes',
        "controls \x00\x01\x08\t\n\r\x1f\x7f",
        "separators \u2028\u2029 and </script>",
        "",
    ],
)
def test_events_encode_as_json_dumps_would(text: str) -> None:
    event = wire.message_event(2**31, {"id": 1, "seq": 0, "text": text, "client_id": None, "ok": True})
    assert wire.encode(event) == json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def test_an_event_with_a_lone_surrogate_still_encodes_as_valid_json() -> None:
    event = wire.error_event("bad_request", "x \ud800 y")
    data = wire.encode(event)
    assert json.loads(data) == event
    data.encode()  # and it is valid UTF-8, as a frame must be
