"""GET /api/v1/ha, and a standby that reads but refuses every write, naming the active."""

from __future__ import annotations

from fastapi.testclient import TestClient

from routepilot.api.fake import FakeView

V1 = "/api/v1"
HA_KEYS = ["enabled", "node", "role", "epoch", "active", "lease_until", "since", "transitions",
           "peers", "last_takeover"]  # fmt: skip
PEER_KEYS = ["node", "role", "epoch", "api_url", "seen_at", "age_s"]

STANDBY = {
    "enabled": True,
    "node": "ctl2",
    "role": "standby",
    "epoch": 3,
    "active": "ctl1",
    "lease_until": 1_800_000_004.5,
    "since": 1_799_999_000.0,
    "transitions": 2,
    "peers": [
        {"node": "ctl1", "role": "active", "epoch": 3, "api_url": "http://127.0.0.1:8080",
         "seen_at": 1_799_999_999.7, "age_s": 0.3},
    ],
}  # fmt: skip


def test_ha_of_a_lone_instance_is_active(client: TestClient) -> None:
    body = client.get(f"{V1}/ha").json()
    assert list(body) == HA_KEYS
    assert body["role"] == "active" and body["enabled"] is False and body["peers"] == []


def test_standby_reads_and_refuses_writes_naming_the_active(
    client: TestClient, view: FakeView
) -> None:
    view.ha_state = STANDBY
    body = client.get(f"{V1}/ha").json()
    assert list(body) == HA_KEYS and list(body["peers"][0]) == PEER_KEYS
    assert (body["role"], body["epoch"], body["active"]) == ("standby", 3, "ctl1")
    assert client.get(f"{V1}/status").json()["ha"]["role"] == "standby"
    assert client.get(f"{V1}/prefixes").status_code == 200

    for method, path, payload in (
        ("post", "/prefixes/198.18.3.0/24/pin", {"provider": "isp2"}),
        ("post", "/control/pause", None),
        ("put", "/control/dry-run", {"enabled": True}),
    ):
        r = client.request(method, f"{V1}{path}", json=payload)
        assert r.status_code == 409, (path, r.text)
        assert r.json()["error"] == (
            "this node (ctl2) is the standby: send writes to the active, ctl1 "
            "(http://127.0.0.1:8080)"
        )
    assert not view.paused and not view.dry_run


def test_active_takes_writes(client: TestClient, view: FakeView) -> None:
    view.ha_state = {**STANDBY, "node": "ctl1", "role": "active", "active": "ctl1", "peers": []}
    assert client.post(f"{V1}/control/pause").status_code == 200
    assert view.paused
