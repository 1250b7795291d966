"""Hostile REST bodies: every answer is a documented 4xx with a detail (or a 2xx), never a 5xx.

Bodies are arbitrary JSON (nested, huge and odd numbers, control characters, lone surrogates) and
raw bytes (invalid UTF-8, deep nesting, 1 MB), sent to every route that takes a body, with the right
credential so that only the body decides. schemathesis covers the schema-driven side (test_schema.py).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.reliability.figures import record, rss_mib
from tests.reliability.profile import pick
from tests.reliability.test_abuse_frames import json_values
from tests.support.chat import Owner, Visitor, create_assistant, create_owner, open_dialog
from tests.support.processes import ReplyxProcess
from tests.support.timing import scaled

EXAMPLES = pick(40, 600)
# Bodies are read whole, parsed and dropped; a leak of even a little per request shows over the module.
RSS_GROWTH_BOUND_MIB = 64.0
# 400 is FastAPI's answer to a body that is not UTF-8 at all (JSON that does not parse is 422);
# 413 refuses a body over REPLYX_MAX_BODY_BYTES before it is read.
DOCUMENTED = {200, 201, 400, 401, 403, 404, 409, 413, 422, 429}


@dataclass
class RestTarget:
    """An owner, an assistant and a dialog on the shared server, and the answers seen."""

    server: ReplyxProcess
    owner: Owner
    assistant: dict[str, Any]
    visitor: Visitor
    baseline_mib: float
    statuses: Counter[int] = field(default_factory=Counter)

    def routes(self) -> dict[str, tuple[str, str, dict[str, str]]]:
        """Every route that takes a JSON body, with the credential it needs."""
        d, a = self.visitor.dialog_id, self.assistant["id"]
        bearer, guest = self.owner.headers, self.visitor.headers
        return {
            "login": ("POST", "/api/auth/login", {}),
            "create assistant": ("POST", "/api/assistants", bearer),
            "patch assistant": ("PATCH", f"/api/assistants/{a}", bearer),
            "open site dialog": ("POST", "/api/site/dialogs", {}),
            "open widget dialog": ("POST", "/api/widget/dialogs", {}),
            "visitor message (site)": ("POST", f"/api/site/dialogs/{d}/messages", guest),
            "visitor message (widget)": ("POST", f"/api/widget/dialogs/{d}/messages", guest),
            "operator message": ("POST", f"/api/dialogs/{d}/messages", bearer),
        }


@pytest.fixture(scope="module")
def rest(shared_server: ReplyxProcess) -> RestTarget:
    """The target, with a dialog the operator holds (so the assistant stays quiet)."""
    owner = create_owner(shared_server, "rest")
    assistant = create_assistant(shared_server.url, owner, greeting="")
    visitor = open_dialog(shared_server.url, assistant)
    httpx.post(f"{shared_server.url}/api/dialogs/{visitor.dialog_id}/takeover", headers=owner.headers)
    assert shared_server.proc is not None
    return RestTarget(shared_server, owner, assistant, visitor, rss_mib(shared_server.proc.pid))


def check(rest: RestTarget, route: str, body: bytes) -> None:
    """Send the body; the answer must be documented, with a detail when it is a refusal."""
    method, path, headers = rest.routes()[route]
    response = httpx.request(
        method,
        rest.server.url + path,
        content=body,
        headers={**headers, "Content-Type": "application/json"},
        timeout=scaled(30),
    )
    rest.statuses[response.status_code] += 1
    assert response.status_code in DOCUMENTED, (route, body[:200], response.status_code, response.text[:300])
    if response.status_code >= 400:
        detail = response.json().get("detail")
        assert isinstance(detail, str) and detail, (route, response.text[:300])


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True).encode()


fields = st.sampled_from(["text", "client_id", "email", "password", "name", "site_token", "assistant_id", "guest_id"])
shaped = st.dictionaries(fields, json_values(), max_size=4).map(_encode)
raw = (
    st.binary(max_size=300)
    | st.integers(1, 100_000).map(lambda n: b"[" * n + b"]" * n)
    | st.integers(1, 5000).map(lambda n: b'{"text":' + b"9" * n + b"}")
    | st.sampled_from([b"", b"null", b"NaN", b'{"text":NaN}', b'{"text":"\xff\xfe"}', b'{"text":"a\\ud800"}'])
)


@pytest.mark.parametrize(
    "route",
    [
        "login",
        "create assistant",
        "patch assistant",
        "open site dialog",
        "open widget dialog",
        "visitor message (site)",
        "visitor message (widget)",
        "operator message",
    ],
)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=shaped | json_values().map(_encode) | raw)
@example(body=b'{"text":"lone \\udc00 surrogate","client_id":"x"}')
@example(body=b'{"name":"\\ud800","greeting":"\\udfff"}')
@example(body=b'{"email":"\\ud800@x","password":"\\udfff"}')
@example(body=b'{"site_token":"\\ud800"}')
@example(body=b'{"assistant_id":1e400}')
@example(body=b'{"text":"' + b"\\u0000" * 10 + b'"}')
def test_rest_bodies_get_documented_answers(route: str, body: bytes, rest: RestTarget) -> None:
    check(rest, route, body)


def test_a_one_megabyte_body_and_deep_nesting_are_refused_and_memory_stays_bounded(rest: RestTarget) -> None:
    for route in rest.routes():
        check(rest, route, _encode({"text": os.urandom(500_000).hex()}))
        check(rest, route, b"[" * 1_000_000 + b"]" * 1_000_000)
    assert rest.server.proc is not None
    assert httpx.get(f"{rest.server.url}/health").status_code == 200
    rss = rss_mib(rest.server.proc.pid)
    growth = round(rss - rest.baseline_mib, 1)
    record(
        "abuse_rest",
        {
            "statuses": {str(k): v for k, v in sorted(rest.statuses.items())},
            "rss_baseline_mib": rest.baseline_mib,
            "rss_after_mib": rss,
            "rss_growth_mib": growth,
            "rss_growth_bound_mib": RSS_GROWTH_BOUND_MIB,
        },
    )
    assert growth < RSS_GROWTH_BOUND_MIB
