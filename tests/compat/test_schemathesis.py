"""Schemathesis against the live server: generated requests to every operation of /api/schema,
with a real token, must get no 5xx and no answer the schema does not describe (status code,
content type, headers, body).

Each request carries a token issued just for it: logout and revoke-all, which revoke tokens,
cannot leave the rest of the run unauthenticated. The hourly limits are raised so that the run
explores the API rather than its 429s (those have their own tests), and Stripe is localstripe, so
that the billing endpoints answer rather than say payments are off (503).
"""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.utils.encoders import JSONEncoder
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import ApiToken
from billing.models import Plan, Subscription
from upscaler_site.testing import make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: Examples per operation: enough to reach every field's edge cases, few enough for make test.
EXAMPLES = 25


#: The schema /api/schema serves, generated at collection to parametrize the test by operation
#: (``test_the_live_server_serves_this_schema`` checks that the server serves the same one).
GENERATED = SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture
def issue_token(db):
    """A new token of an Enterprise user for each call (a request may revoke its own token, or all)."""
    Plan.objects.filter(slug="enterprise").update(requests_per_hour=1_000_000)
    user = make_user("schemathesis@example.com")
    Subscription.objects.create(workspace=user.personal_workspace, plan=Plan.objects.get(slug="enterprise"))

    def issue() -> str:
        return ApiToken.issue(user, user.personal_workspace, "schemathesis")[1]

    return issue


schema = schemathesis.openapi.from_dict(json.loads(json.dumps(GENERATED, cls=JSONEncoder)))


def test_the_live_server_serves_this_schema(live_server):
    served = requests.get(f"{live_server.url}/api/schema?format=json", timeout=30).json()
    assert served == schema.raw_schema


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written to .hypothesis/ in the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_the_api_answers_as_its_schema_says(case, live_server, settings, stripe_settings, issue_token):
    settings.ANON_REQUESTS_PER_HOUR = 1_000_000
    headers = {"Authorization": f"Bearer {issue_token()}"}
    case.call_and_validate(base_url=live_server.url, headers=headers, checks=CHECKS, timeout=30)
