"""The browser clients' close codes (web/static/shared/closecodes.js) equal the server's table."""

from __future__ import annotations

import json
import re
from typing import Any

from replyx.realtime import protocol
from replyx.realtime.protocol import CLOSE_CODES, CloseCode
from replyx.web import STATIC_DIR

CLIENT_TABLE = STATIC_DIR / "shared" / "closecodes.js"


def client_table() -> list[dict[str, Any]]:
    """The TABLE literal of closecodes.js, read as the JSON it is written in."""
    source = CLIENT_TABLE.read_text(encoding="utf-8")
    found = re.search(r"^const TABLE = (\[.*?^\]);$", source, re.MULTILINE | re.DOTALL)
    assert found, "closecodes.js must keep `const TABLE = [...];` with the closing bracket on its own line"
    table = json.loads(found.group(1))
    assert isinstance(table, list)
    return table


def test_the_client_table_is_the_server_table() -> None:
    client = {entry["code"]: CloseCode(entry["code"], entry["retryable"], entry["reason"]) for entry in client_table()}
    assert client == CLOSE_CODES


def test_each_code_is_listed_once_with_exactly_its_four_fields() -> None:
    table = client_table()
    assert len({entry["code"] for entry in table}) == len(table)
    for entry in table:
        assert set(entry) == {"code", "name", "retryable", "reason"}
        assert isinstance(entry["retryable"], bool)


def test_each_client_name_is_the_server_constant_of_that_code() -> None:
    for entry in client_table():
        assert getattr(protocol, entry["name"], None) == CLOSE_CODES[entry["code"]], entry["name"]
