"""POST /api/v1/probe and /api/v1/traceroute: roles, bad input, ranges, rate limits, the
contract of the answers (the measuring faked over FakeView, the checks real)."""

from __future__ import annotations

import pytest
from tests.unit.api.conftest import READ, WRITE, make_client

from routepilot.api.accounts import Accounts, Role
from routepilot.api.config import ApiConfig
from routepilot.api.fake import FakeView
from routepilot.api.fake_ondemand import fake_measurer
from routepilot.config.probe import ProbeConfig
from routepilot.store import MemoryStore

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.t = 5000.0

    def __call__(self) -> float:
        return self.t


def app_with(cfg: ProbeConfig | None = None, clock: Clock | None = None, **api: object):
    view = FakeView()
    measurer = fake_measurer(view, (lambda: cfg) if cfg else None, clock=clock or Clock())
    client = make_client(
        ApiConfig(write_token=WRITE, read_token=READ, **api), view,
        accounts=Accounts(MemoryStore()), measurer=measurer,
    )  # fmt: skip
    tokens = {}
    for name, role in (("vera", Role.VIEWER), ("otto", Role.OPERATOR), ("ada", Role.ADMIN)):
        r = post(client, "/users", {"name": name, "role": role.label}, WRITE)
        assert r.status_code == 201, r.text
        tokens[role] = r.json()["token"]
    return client, tokens, measurer


def post(client, path: str, body: object, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(f"/api/v1{path}", json=body, headers=headers)


def test_an_operator_probes_every_provider_with_a_route() -> None:
    client, tokens, _ = app_with()
    r = post(client, "/probe", {"address": "198.18.3.7", "count": 5}, tokens[Role.OPERATOR])
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "address", "kind", "count", "interval_s", "prefix", "scope", "time", "results",
    }  # fmt: skip
    assert (body["address"], body["prefix"], body["scope"]) == (
        "198.18.3.7", "198.18.3.0/24", "learned",
    )  # fmt: skip
    assert [row["provider"] for row in body["results"]] == ["isp1", "isp2", "isp3"]
    row = body["results"][1]
    assert set(row) == {
        "provider", "sent", "answered", "unreachable", "loss", "loss_low", "loss_high",
        "rtt_min_ms", "rtt_median_ms", "rtt_p90_ms", "rtt_max_ms", "jitter_ms", "responders",
    }  # fmt: skip
    assert (row["sent"], row["answered"], row["loss"]) == (5, 5, 0.0)
    # FakeView's RTT for the prefix through isp2, as the prefix page shows it.
    shown = {m["provider"]: m["rtt_ms"] for m in FakeView().prefix("198.18.3.0/24")["measurements"]}
    assert row["rtt_min_ms"] == pytest.approx(shown["isp2"])
    assert row["responders"] == ["198.18.3.7"]


def test_traceroute_lists_hops_with_their_as() -> None:
    client, tokens, _ = app_with()
    body = {"address": "2001:db8::9", "provider": "isp2", "kind": "udp"}
    r = post(client, "/traceroute", body, tokens[Role.ADMIN])
    assert r.status_code == 403, r.text  # FakeView learns no IPv6: outside the ranges
    r = post(client, "/traceroute", {**body, "address": "198.18.5.9"}, tokens[Role.ADMIN])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["reached"] is True and out["provider"] == "isp2" and out["kind"] == "udp"
    assert [(h["ttl"], h["responder"], h["asn"]) for h in out["hops"]] == [
        (1, "100.64.0.1", None), (2, "100.64.2.2", 65002), (3, "198.18.5.9", 64500),
    ]  # fmt: skip
    assert set(out["hops"][0]) == {"ttl", "responder", "asn", "rtts_ms", "loss", "reached"}


@pytest.mark.parametrize("path", ["/probe", "/traceroute"])
def test_only_operators_and_admins_may_ask(path: str) -> None:
    client, tokens, measurer = app_with()
    body = {"address": "198.18.3.7", "provider": "isp1"}
    if path == "/probe":
        body.pop("provider")
    r = post(client, path, body, None)
    assert r.status_code == 401 and "needs the operator role" in r.json()["error"]
    r = post(client, path, body, tokens[Role.VIEWER])
    assert r.status_code == 403
    assert r.json()["error"].startswith("vera has the viewer role;")
    r = post(client, path, body, READ)
    assert r.status_code == 403 and "read-only token" in r.json()["error"]
    assert measurer.metrics.requests == {}  # refused before anything was measured
    assert post(client, path, body, tokens[Role.OPERATOR]).status_code == 200
    assert post(client, path, body, WRITE).status_code == 200


@pytest.mark.parametrize(
    "body,status,says",
    [
        ({"address": "example.com"}, 400, "never a name"),
        ({"address": "198.18.3.0/24"}, 400, "is a prefix"),
        ({"address": "198.18.3.7", "kind": "gre"}, 400, "'kind'"),
        ({"address": "198.18.3.7", "count": 0}, 400, "'count'"),
        ({"address": "198.18.3.7", "count": 101}, 400, "'count'"),
        ({"address": "198.18.3.7", "providers": []}, 400, "'providers'"),
        ({"address": "198.18.3.7", "providers": ["bad name!"]}, 400, "'providers"),
        ({"address": "198.18.3.7", "ttl": 3}, 400, "'ttl'"),
        ({"address": 198}, 400, "'address'"),
        ({}, 400, "'address'"),
        ({"address": "198.18.3.7", "providers": ["isp9"]}, 404, "unknown provider 'isp9'"),
        ({"address": "192.0.2.1"}, 403, "outside what routepilot may probe"),
        ({"address": "8.8.8.8"}, 403, "outside what routepilot may probe"),
        ({"address": "::ffff:198.18.3.7"}, 403, "IPv4-mapped"),
        ({"address": "224.0.0.5"}, 403, "multicast"),
        ({"address": "198.18.3.255"}, 403, "broadcast address of 198.18.3.0/24"),
        ({"address": "255.255.255.255"}, 403, "broadcast"),
        ({"address": "127.0.0.1"}, 403, "loopback"),
    ],
)
def test_bad_or_out_of_range_requests_say_why(body: dict, status: int, says: str) -> None:
    client, tokens, measurer = app_with()
    r = post(client, "/probe", body, tokens[Role.OPERATOR])
    assert r.status_code == status, r.text
    assert says in r.json()["error"], r.json()


def test_an_allowed_range_opens_addresses_no_route_covers() -> None:
    cfg = ProbeConfig(enabled=True, on_demand={"allowed": ["192.0.2.0/24"]})
    client, tokens, _ = app_with(cfg)
    r = post(client, "/probe", {"address": "192.0.2.1", "count": 2}, tokens[Role.OPERATOR])
    assert r.status_code == 200, r.text
    assert (r.json()["scope"], r.json()["prefix"]) == ("allowed", "192.0.2.0/24")
    r = post(client, "/probe", {"address": "192.0.3.1"}, tokens[Role.OPERATOR])
    assert r.status_code == 403 and "192.0.2.0/24" in r.json()["error"]


def test_over_the_rate_is_a_429_with_retry_after() -> None:
    clock = Clock()
    cfg = ProbeConfig(enabled=True, on_demand={"per_user_per_minute": 2, "per_minute": 3})
    client, tokens, _ = app_with(cfg, clock)
    body = {"address": "198.18.3.7", "count": 1}
    otto, ada = tokens[Role.OPERATOR], tokens[Role.ADMIN]
    assert post(client, "/probe", body, otto).status_code == 200
    clock.t += 15
    assert post(client, "/probe", body, otto).status_code == 200
    clock.t += 5
    r = post(client, "/traceroute", {"address": "198.18.3.7", "provider": "isp1"}, otto)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "40"
    assert "otto made 2 on-demand requests in the last minute" in r.json()["error"]
    assert post(client, "/probe", body, ada).status_code == 200  # another caller
    r = post(client, "/probe", body, WRITE)
    assert r.status_code == 429 and "for everyone" in r.json()["error"]
    clock.t += 40
    assert post(client, "/probe", body, otto).status_code == 200


def test_probing_off_or_no_prober_is_said_plainly() -> None:
    client, tokens, _ = app_with(ProbeConfig())
    r = post(client, "/probe", {"address": "198.18.3.7"}, tokens[Role.OPERATOR])
    assert r.status_code == 409 and "probe.enabled is false" in r.json()["error"]
    bare = make_client(ApiConfig(write_token=WRITE), FakeView())
    r = bare.post("/api/v1/probe", json={"address": "198.18.3.7"},
                  headers={"Authorization": f"Bearer {WRITE}"})  # fmt: skip
    assert r.status_code == 409 and "not available here" in r.json()["error"]


def test_a_standby_refuses_like_any_write() -> None:
    fake = FakeView()
    fake.ha_state = {"enabled": True, "node": "b", "role": "standby", "active": "a",
                     "peers": [{"node": "a", "api_url": "http://a:8080"}]}  # fmt: skip
    c = make_client(ApiConfig(write_token=WRITE), fake, measurer=fake_measurer(fake))
    r = c.post("/api/v1/probe", json={"address": "198.18.3.7"},
               headers={"Authorization": f"Bearer {WRITE}"})  # fmt: skip
    assert r.status_code == 409 and "standby" in r.json()["error"]
