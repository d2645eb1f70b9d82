"""The committed spec (docs/openapi.json) is the one the app serves."""

from __future__ import annotations

import json
from pathlib import Path

from routepilot.api.openapi import render, spec

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"
REGENERATE = ".venv/bin/python -m routepilot.api.openapi docs/openapi.json"


def test_committed_spec_is_the_served_one(client) -> None:
    served = client.get("/api/v1/openapi.json").json()
    assert served == spec()
    assert COMMITTED.exists(), f"docs/openapi.json is missing: run {REGENERATE}"
    assert COMMITTED.read_text() == render(served), f"docs/openapi.json is stale: run {REGENERATE}"


def test_spec_promises_json_errors_not_422() -> None:
    schema = spec()
    text = json.dumps(schema)
    assert '"422"' not in text and "HTTPValidationError" not in text
    pin = schema["paths"]["/api/v1/prefixes/{prefix}/pin"]["post"]
    assert set(pin["responses"]) == {"200", "400", "401", "403", "404", "409"}
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "/metrics" in schema["paths"]
