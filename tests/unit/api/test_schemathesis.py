"""Property-based conformance of the app to its own OpenAPI spec (schemathesis).

Every operation gets a bounded number of generated requests, valid and
invalid; each answer must be no 500, declared in the spec, and match the
declared schema. Kept small so the unit tier stays fast.

``positive_data_acceptance`` is left out: a schema cannot say which strings
are real prefixes, known providers or windows of at most 10,000 points, so
schema-valid requests are rightly refused with a 400 or 404 (each case is
pinned in test_bad_input.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from tests.unit.api.conftest import WRITE

from routepilot.api.app import create_app
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.api.fake_ondemand import fake_measurer

schemathesis = pytest.importorskip("schemathesis")

view = FakeView()
app = create_app(
    view,
    ApiConfig(write_token=WRITE, read_token="r"),
    static_dir=Path("/nonexistent"),
    measurer=fake_measurer(view),
)
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_spec(case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {WRITE}"},
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
