"""Schemathesis fuzzing of /api/openapi.json against the demo data.

Every operation of the API is called with generated requests (valid ones, and invalid ones that
must be refused with a 4xx), once as a demo committee member and once as a plain resident. A run
passes when no answer is a 500 and every answer matches the OpenAPI document: a documented status
code, the documented content type and a body that validates against the documented schema.

CI-sized and reproducible: derandomized Hypothesis (the same examples every run), at most
FUZZ_EXAMPLES examples per operation (default 15; raise it locally with the environment variable).
See docs/security.md.
"""
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from civic.extensions import db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Revoking the caller's own token would sign the rest of the run out: it runs with a throwaway token.
OWN_TOKEN_OPERATIONS = {("DELETE", "/api/v1/auth/token")}


def _seed(app, phone):
    """The demo data, and a bearer token for the demo person with this phone."""
    from civic.accounts.models import User
    from civic.accounts.service import issue_api_token
    from civic.communities.models import Community
    from civic.demo import seed_demo

    with app.app_context():
        seed_demo()
        user = db.session.scalar(select(User).where(User.phone == phone))
        _, token = issue_api_token(user, days=1, name="fuzz")
        communities = list(db.session.scalars(select(Community.id).order_by(Community.id)))
        db.session.commit()
        db.session.remove()
    return token, communities


def _throwaway_token(app, phone):
    from civic.accounts.models import User
    from civic.accounts.service import issue_api_token

    with app.app_context():
        user = db.session.scalar(select(User).where(User.phone == phone))
        _, token = issue_api_token(user, days=1, name="fuzz-throwaway")
        db.session.commit()
        db.session.remove()
    return token


def _path_ids(operation, communities):
    """Path parameters drawn from ids that exist in the demo data most of the time, so that the
    fuzzer reaches the handlers behind the 404s; the generated values are kept otherwise."""
    names = [p.name for p in operation.path_parameters]
    known = {}
    for name in names:
        if name == "community_id":
            known[name] = st.sampled_from(communities + [999_999])
        else:
            known[name] = st.integers(min_value=1, max_value=8)
    return st.one_of(st.just({}), st.fixed_dictionaries(known), st.fixed_dictionaries(known))


def _fuzz_operation(app, operation, token, phone, communities):
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    own_token = (operation.method.upper(), operation.path) in OWN_TOKEN_OPERATIONS

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(case=strategy, ids=_path_ids(operation, communities))
    def run(case, ids):
        if ids and case.path_parameters is not None:
            case.path_parameters = {**case.path_parameters, **ids}
        bearer = _throwaway_token(app, phone) if own_token else token
        headers = {"Authorization": f"Bearer {bearer}"}
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


@pytest.mark.parametrize("phone", ["13800000001", "13800000005"], ids=["committee", "resident"])
def test_api_survives_fuzzing(app, phone):
    """As a committee member and as a resident, no generated request gets a 500 and every answer
    (status, content type, body) matches the OpenAPI document."""
    token, communities = _seed(app, phone)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            _fuzz_operation(app, operation, token, phone, communities)
        except BaseException as error:  # noqa: BLE001 — collect every operation's finding, then report all
            if isinstance(error, KeyboardInterrupt):
                raise
            failures.append(f"{operation.method.upper()} {operation.path}:\n{error}")
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)
