"""schemathesis against the server's own OpenAPI schema: no request it can build gets a 5xx.

The operations are driven through schemathesis's Python API (one hypothesis run per operation, in
one test), which needs no collection-time schema and so works with a server started by a fixture.
"""

from __future__ import annotations

from collections import Counter

import httpx
import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error

from tests.reliability.figures import record
from tests.reliability.profile import pick
from tests.support.chat import create_owner
from tests.support.processes import ReplyxProcess

EXAMPLES = pick(10, 150)


def test_no_generated_request_gets_a_server_error(shared_server: ReplyxProcess) -> None:
    # An owner of its own: whatever the generated requests change stays within its account.
    owner = create_owner(shared_server, "schema")
    assert httpx.get(f"{shared_server.url}/openapi.json").status_code == 200
    schema = schemathesis.openapi.from_url(f"{shared_server.url}/openapi.json")
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            response = case.call_and_validate(
                base_url=shared_server.url, headers=owner.headers, checks=[not_a_server_error], timeout=30
            )
            statuses[response.status_code] += 1

        try:
            run()
        except (Exception, BaseExceptionGroup) as error:
            failures.append(f"{operation.label}: {str(error)[:2000]}")
    record(
        "schemathesis", {"operations": len(operations), "statuses": {str(k): v for k, v in sorted(statuses.items())}}
    )
    assert not failures, "\n\n".join(failures)
