"""A bounded schemathesis run over the whole OpenAPI schema, every check on, in process over WSGI.

Each operation gets generated valid and invalid requests against the real
database: no 5xx, every answer documented (status, content type, body), every
valid request accepted and every invalid one refused. The edge operations are
called without a key (EDGE_AUTH_REQUIRED is off in the tests) and the staff
ones with a superuser's token; cases generated as valid name an alarm and a
device that exist. ``OPENAPI_FUZZ_EXAMPLES`` raises the bound for a
longer run; the full CLI run is in README "API map".
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import CHECKS

import vsp.tests.schemathesis_hooks  # noqa: F401  (real images for the snapshot fields)
from alarms.tests.factories import make_alarm, make_device
from conftest import make_user

EXAMPLES = int(os.environ.get("OPENAPI_FUZZ_EXAMPLES", "12"))

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


# One alarm and one device that exist, so that operations on an object reach their logic instead of a 404.
KNOWN = {"alarm_id": "FUZZ-1", "device_id": "cam-fuzz"}


@pytest.fixture
def token(transactional_db: None) -> str:
    make_alarm(alarm_id=KNOWN["alarm_id"], device_id=KNOWN["device_id"])
    make_device(KNOWN["device_id"], name="Fuzz camera")
    return Token.objects.create(user=make_user("fuzzer", superuser=True)).key


@pytest.fixture(autouse=True)
def _login_unlimited(settings: Any) -> None:
    # The login limits would turn most of the token view's cases into 429s, which test nothing else.
    settings.LOGIN_RATE_PER_USER_AND_IP = settings.LOGIN_RATE_PER_IP = settings.LOGIN_RATE_PER_USER = "100000/m"


@pytest.mark.django_db(transaction=True)  # each request commits, as it does in production
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_as_documented(case: Any, token: str) -> None:
    edge = "edge" in case.operation.definition.raw.get("tags", []) or case.path == "/health"
    headers = {} if edge else {"Authorization": f"Token {token}"}
    # A case generated as valid names the known alarm or device; invalid ones keep what they were given.
    known = {name: KNOWN[name] for name in case.path_parameters or {} if name in KNOWN}
    valid = case.meta is not None and not case.meta.generation.mode.is_negative
    if known and valid:
        case.path_parameters = {**case.path_parameters, **known}
    case.call_and_validate(headers=headers, checks=CHECKS.get_all())
