"""GET /api/v1/incidents: the contract of its JSON keys, open ones first, state and limit."""

from __future__ import annotations

from fastapi.testclient import TestClient

from routepilot.api.fake import FakeView

INCIDENT_KEYS = ["id", "cause", "opened", "closed", "updated", "prefixes", "evidence"]
CAUSE_KEYS = ["kind", "asn", "provider", "prefix"]
EVIDENCE_KEYS = ["prefix", "provider", "loss", "rtt_ms", "as_path", "hops"]
HOP_KEYS = ["ttl", "address", "asn", "rtt_ms", "loss"]


def _row(i: int, kind: str, closed: float | None) -> dict:
    hop = {"ttl": 2, "address": "100.92.101.1", "asn": 64501, "rtt_ms": 5.5, "loss": 0.0,
           "extra": "not in the contract"}  # fmt: skip
    return {
        "id": i,
        "cause": {"kind": kind, "asn": 64501 if kind == "as" else None, "provider": None,
                  "prefix": None},  # fmt: skip
        "opened": 100.0 + i,
        "closed": closed,
        "updated": 110.0 + i,
        "prefixes": ["198.18.0.0/24"],
        "evidence": [{"prefix": "198.18.0.0/24", "provider": "isp1", "loss": 0.1,
                      "rtt_ms": None, "as_path": [65001, 64501], "hops": [hop]}],
    }  # fmt: skip


def test_incidents_keys_order_and_filters(client: TestClient, view: FakeView) -> None:
    assert client.get("/api/v1/incidents").json() == []
    view.incident_rows += [_row(1, "as", None), _row(2, "prefix", 150.0), _row(3, "as", 190.0)]
    body = client.get("/api/v1/incidents").json()
    assert [i["id"] for i in body] == [1, 3, 2]  # open first, then newest first
    first = body[0]
    assert list(first) == INCIDENT_KEYS
    assert list(first["cause"]) == CAUSE_KEYS
    assert list(first["evidence"][0]) == EVIDENCE_KEYS
    assert list(first["evidence"][0]["hops"][0]) == HOP_KEYS
    assert [i["id"] for i in client.get("/api/v1/incidents?state=open").json()] == [1]
    assert len(client.get("/api/v1/incidents?limit=2").json()) == 2
    assert client.get("/api/v1/incidents?state=closed").status_code == 400
    assert client.get("/api/v1/incidents?limit=0").status_code == 400


def test_traces_keys_filters_and_bad_input(client: TestClient, view: FakeView) -> None:
    prefix = view.prefixes()[0]["prefix"]
    hop = {"ttl": 1, "address": "100.66.1.1", "asn": None, "rtt_ms": 0.1, "loss": 0.0}
    view.trace_rows += [
        {"prefix": prefix, "provider": p, "target": "198.18.0.1", "time": t, "reached": True,
         "asns": [65001, 64501], "hops": [hop]}
        for p, t in (("isp1", 10.0), ("isp2", 30.0), ("isp1", 20.0))
    ]  # fmt: skip
    body = client.get("/api/v1/traces", params={"prefix": prefix}).json()
    assert [(t["provider"], t["time"]) for t in body] == [("isp2", 30.0), ("isp1", 20.0),
                                                          ("isp1", 10.0)]  # fmt: skip
    assert list(body[0]) == ["prefix", "provider", "target", "time", "reached", "asns", "hops"]
    assert list(body[0]["hops"][0]) == HOP_KEYS
    one = client.get("/api/v1/traces", params={"prefix": prefix, "provider": "isp1"}).json()
    assert [t["time"] for t in one] == [20.0, 10.0]
    assert client.get("/api/v1/traces").status_code == 400  # the prefix is required
    bad = client.get("/api/v1/traces", params={"prefix": prefix, "provider": "nope"})
    assert bad.status_code == 404 and "nope" in bad.json()["error"]
    assert client.get("/api/v1/traces", params={"prefix": "not-a-prefix"}).status_code in (400, 404)
