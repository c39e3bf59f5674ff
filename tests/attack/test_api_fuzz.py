"""Schemathesis against the published OpenAPI document, as every role: no 5xx, and every answer
keeps the document's promises. Runs against a real server process (embedded default, and
PostgreSQL + Redis when configured).

Every operation is called as each role (anonymous and each demo account, signed in through
``/api/v1/auth/dev-login``) with schema-valid and schema-violating examples, and each answer goes
through all of schemathesis' checks (the ``--checks all`` of its command line): not a server
error, status code, content type, response headers and schema conformance, negative data
rejected, positive data accepted, authentication enforced where declared, and the rest. Two
checks are narrowed to what the document promises:

- a 503 with the error body is a clean answer when an outside service (WeChat, unreachable
  here) is down;
- schema-valid data may still be refused by a domain rule the schema cannot express (a slot in
  the past, an end before its start, an opaque cursor): a 400 with the rule's own message is an
  answer; a 400 listing ``details.fields`` is not (the document failed to describe a
  constraint), except a float sent for an integer: JSON Schema's ``integer`` admits ``5.0``, our
  contract refuses it (``yixiang/schemas.py``).

The number of examples per operation, mode and role is bounded so CI stays fast (~2 minutes a
backend). A longer run, e.g. before a release::

    YIXIANG_FUZZ_EXAMPLES=200 uv run pytest tests/attack/test_api_fuzz.py -q

(with ``YIXIANG_TEST_DATABASE_URL`` and ``YIXIANG_TEST_REDIS_URL`` set, on PostgreSQL + Redis
too). Failures are collected over all operations and reported together.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error as builtin_not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance as builtin_positive_data_acceptance

from accounts.demo import ACCOUNTS
from tests.live_server import live_server
from tests.support import BACKENDS

pytestmark = pytest.mark.slow

ROLES = ["anonymous", *[username for username, *_ in ACCOUNTS]]
EXAMPLES = int(os.environ.get("YIXIANG_FUZZ_EXAMPLES", "5"))


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory):
    with live_server(tmp_path_factory.mktemp(f"fuzz-{request.param}"), request.param) as running:
        yield running


def _error(response: Any) -> dict[str, Any]:
    try:
        error = response.json()["error"]
    except Exception:
        return {}
    return error if isinstance(error, dict) else {}


def not_a_server_error(ctx, response, case):
    if response.status_code == 503 and _error(response).get("code"):
        return None
    if response.status_code >= 500:
        raise AssertionError(
            f"{case.method} {case.formatted_path} answered {response.status_code}: {response.text[:500]}"
        )
    return None


FLOAT_FOR_INT = re.compile(r"^Expected `int( \| null)?`, got `float`$")  # (an optional one too)


def positive_data_accepted(ctx, response, case):
    if response.status_code == 400:
        error = _error(response)
        fields = error.get("details", {}).get("fields")
        if error.get("code") not in (None, "validation_error") or (error.get("code") and fields is None):
            return None  # a domain rule refused well-formed data, with its own code or message
        if fields and all(FLOAT_FOR_INT.match(str(f.get("reason"))) for f in fields):
            return None  # JSON Schema's integer admits 5.0; our contract does not
    return builtin_positive_data_acceptance(ctx, response, case)


def test_no_operation_fails_or_breaks_its_schema(server):
    tokens = {username: server.token(username) for username in ROLES if username != "anonymous"}
    schema = schemathesis.openapi.from_url(f"{server.base_url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 60
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
            )
            def run(case):
                for role in ROLES:
                    # Signing out would revoke the role's token for the rest of the run.
                    signed_in = role != "anonymous" and not case.path.endswith("/auth/logout")
                    headers = {"Authorization": f"Bearer {tokens[role]}"} if signed_in else {}
                    response = case.call(base_url=server.base_url, headers=headers, timeout=30)
                    case.validate_response(
                        response,
                        headers=headers,
                        excluded_checks=[builtin_not_a_server_error, builtin_positive_data_acceptance],
                        additional_checks=[not_a_server_error, positive_data_accepted],
                    )

            try:
                run()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE  # nothing to break: no parameters, no body
            except (Exception, BaseExceptionGroup) as exc:  # reported together, below
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:3000])
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
