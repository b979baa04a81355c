"""Schema fuzzing: schemathesis drives every operation of the service's own OpenAPI schema
against a real server process on 127.0.0.1, with valid and deliberately invalid data.

For every generated request: no 5xx, the status code and content type are documented, the body
matches the documented schema for that status, invalid data is rejected with a 4xx, and an
unsupported method gets 405. Because JSON Schema cannot express everything the contract checks
(distinct ``post_id``s; schemathesis also rounds int64 bounds through floats), schemathesis' own
"valid data must be accepted" check is replaced by ``_check_valid_posts_are_ranked``, which
decides validity exactly and then requires a 200. Afterwards the server must still be alive.

Examples per operation: ``FEEDRANK_FUZZ_EXAMPLES`` (default 300 with a fixed seed, so the default
suite is repeatable; ``make fuzz`` runs 2,000 with a fresh seed, printed with the summary line).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from serving.app import create_app
from serving.settings import Settings
from tests.support.server import Server

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]

EXAMPLES = int(os.environ.get("FEEDRANK_FUZZ_EXAMPLES", "300"))
DERANDOMIZE = os.environ.get("FEEDRANK_FUZZ_RANDOM", "") != "1"

OPENAPI = create_app(Settings()).openapi()  # the very schema the server publishes
schema = schemathesis.openapi.from_dict(OPENAPI)
if DERANDOMIZE:
    schema.config.seed = 5  # schemathesis' own seed: it takes precedence over derandomize


@dataclass
class Tally:
    """What the fuzzing sent and got, for the summary line. The fixture below owns one per
    run of this module's tests, so no count outlives the tests that made it (a ``-k``
    selection, or another module's tests run in between, start from zero)."""

    cases: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    valid_rank_requests: Counter[int] = field(default_factory=Counter)  # exactly valid, by status


def _strict_validator() -> jsonschema.protocols.Validator:
    """The /rank body schema with JSON Schema's ``integer`` narrowed to JSON integers: the
    contract (and SERVING.md) rejects ``3.0`` where an integer is expected."""
    body = OPENAPI["paths"]["/rank"]["post"]["requestBody"]["content"]["application/json"]
    root = {**body["schema"], "components": OPENAPI["components"]}
    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    validator_class = jsonschema.validators.extend(base, type_checker=checker)
    return validator_class(root)


BODY_VALIDATOR = _strict_validator()
USER_HEADER = OPENAPI["paths"]["/rank"]["post"]["parameters"][0]
USER_HEADER_VALIDATOR = jsonschema.Draft202012Validator(USER_HEADER["schema"])


def _is_valid_request(case: Any) -> bool:
    content_type = (case.headers or {}).get("Content-Type", case.media_type or "")
    if case.media_type != "application/json" or "json" not in str(content_type):
        return False
    if not BODY_VALIDATOR.is_valid(case.body):
        return False
    user = (case.headers or {}).get(USER_HEADER["name"])
    # HTTP strips a header value's surrounding whitespace before the server sees it
    if user is not None and not USER_HEADER_VALIDATOR.is_valid(str(user).strip(" \t")):
        return False
    posts = case.body["posts"] if isinstance(case.body, dict) else case.body
    ids = [post["post_id"] for post in posts]
    return (
        len(ids) == len(set(ids))
        and len(json.dumps(case.body).encode()) <= Settings().max_body_bytes
    )


def _check_valid_posts_are_ranked(case: Any, response: requests.Response, tally: Tally) -> None:
    if (case.method, case.path) == ("POST", "/rank") and _is_valid_request(case):
        tally.valid_rank_requests[response.status_code] += 1
        assert response.status_code == 200, response.text
        ranked = response.json()["ranked"]
        posts = case.body["posts"] if isinstance(case.body, dict) else case.body
        assert sorted(item["post_id"] for item in ranked) == sorted(p["post_id"] for p in posts)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_holds_its_schema(
    case: Any, running_server: Server, fuzz_tally: Tally
) -> None:
    meta = case.meta
    mode = meta.generation.mode.value if meta else "explicit"
    operation = f"{case.operation.method.upper()} {case.operation.path}"
    fuzz_tally.cases[(operation, mode, case.method)] += 1
    response = case.call_and_validate(
        base_url=running_server.url, excluded_checks=[positive_data_acceptance], timeout=30
    )
    fuzz_tally.statuses[(f"{case.method} {case.path}", response.status_code)] += 1
    _check_valid_posts_are_ranked(case, response, fuzz_tally)


def test_server_is_alive_and_never_answered_5xx(running_server: Server) -> None:
    """Holds in any order: alone (a fresh server) or after the fuzzing, whose every response
    schemathesis has already checked for 5xx (``not_a_server_error``)."""
    assert running_server.process.poll() is None
    assert requests.get(f"{running_server.url}/health", timeout=5).status_code == 200
    assert requests.get(f"{running_server.url}/ready", timeout=5).status_code == 200
    metrics = requests.get(f"{running_server.url}/metrics", timeout=5).text
    assert 'status="5' not in metrics
    served = requests.get(f"{running_server.url}/openapi.json", timeout=5).json()
    assert served == OPENAPI  # what was fuzzed is what the server publishes


@pytest.fixture(scope="module")
def fuzz_tally() -> Iterator[Tally]:
    """A fresh tally; prints what was sent once the tests using it are done (``make fuzz``
    runs with -s)."""
    tally = Tally()
    yield tally
    if not tally.cases:
        return
    per_operation: Counter[str] = Counter()
    per_mode: Counter[str] = Counter()
    for (operation, mode, _), count in tally.cases.items():
        per_operation[operation] += count
        per_mode[mode] += count
    statuses: Counter[int] = Counter()
    for (_, status), count in tally.statuses.items():
        statuses[status] += count
    rank_statuses = dict(
        sorted((s, n) for (call, s), n in tally.statuses.items() if call == "POST /rank")
    )
    sys.stdout.write(
        f"fuzz: {sum(tally.cases.values())} requests ({dict(per_mode)}), {EXAMPLES} examples per "
        f"operation, seed {schema.config.seed}; per operation {dict(per_operation)}; "
        f"statuses {dict(sorted(statuses.items()))}; POST /rank {rank_statuses}, of which "
        f"{tally.valid_rank_requests[200]} exactly valid bodies, all ranked\n"
    )
