"""The ExaBGP launcher: its two fixes change no route ExaBGP stores, only what copying costs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from routepilot.config.models import RouterConfig
from routepilot.rib.config import SpeakerConfig
from routepilot.rib.speaker import exabgp_launch
from routepilot.rib.speaker.exabgp import ExaBGPSpeaker

pytest.importorskip("exabgp")

LAUNCHER = Path(exabgp_launch.__file__)


@pytest.fixture
def patched(monkeypatch):
    from exabgp.bgp.message import Message
    from exabgp.bgp.neighbor import Neighbor
    from exabgp.reactor.api.response import json as api_json
    from exabgp.reactor.asynchronous import ASYNC

    monkeypatch.setattr(Neighbor, "remove_self", Neighbor.remove_self)
    monkeypatch.setattr(ASYNC, "LIMIT", ASYNC.LIMIT)
    monkeypatch.setattr(Message, "unpack", Message.__dict__["unpack"])
    monkeypatch.setattr(api_json, "hexstring", api_json.hexstring)
    stock = Neighbor.remove_self
    assert exabgp_launch.patch() is None
    return stock


_COMPARE = """
import json, sys
sys.path[:] = [p for p in sys.path if not p.endswith("speaker")]
from exabgp.environment import getenv
from exabgp.logger import log
log.init(getenv())
from exabgp.bgp.neighbor import Neighbor
from exabgp.configuration.configuration import Configuration
from exabgp.reactor.api import API
from routepilot.rib.speaker import exabgp_launch

stock = Neighbor.remove_self
assert exabgp_launch.patch() is None
api = API(Configuration([]))
out = []
for hop in ("100.64.1.1", "self"):
    # What ExaBGP's own API parser makes of a batched command, as routepilot sends it.
    for change in api.api_attributes(
        f"announce attributes next-hop {hop} local-preference 200 community [ no-export ] "
        "nlri 198.18.0.0/24 198.18.1.0/24", []
    ):
        ours = Neighbor.remove_self(None, change) if hop != "self" else None
        theirs = stock(None, change) if hop != "self" else None
        out.append({
            "hop": hop,
            "equal": ours == theirs == change if ours else None,
            "text": [ours.extensive(), theirs.extensive()] if ours else None,
            "own_nlri": ours.nlri is not change.nlri if ours else None,
            "shared_attributes": ours.attributes is change.attributes if ours else None,
            "self_goes_stock": change.nlri.nexthop.SELF,
        })
print(json.dumps(out))
"""


def test_a_route_is_copied_as_it_was_without_a_deep_copy():
    # In a process of its own: ExaBGP's logger and parser are process-wide state.
    out = subprocess.run(
        [sys.executable, "-c", _COMPARE], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout.splitlines()[-1])
    plain = [r for r in rows if r["hop"] != "self"]
    assert len(plain) == 2
    for r in plain:
        assert r["equal"] and r["text"][0] == r["text"][1]
        # Its own NLRI (the RIB sets the action on it later), the shared attribute set.
        assert r["own_nlri"] and r["shared_attributes"]
    assert [r["self_goes_stock"] for r in rows if r["hop"] == "self"] == [True, True]


def test_more_route_steps_per_reactor_loop(patched):
    from exabgp.reactor.asynchronous import ASYNC

    assert ASYNC.LIMIT >= exabgp_launch.STEPS_PER_LOOP


def test_an_unchecked_version_runs_exabgp_unchanged(monkeypatch):
    from exabgp.bgp.neighbor import Neighbor

    monkeypatch.setattr(exabgp_launch, "CHECKED", ("9.9.",))
    stock = Neighbor.remove_self
    assert "not checked" in exabgp_launch.patch()
    assert Neighbor.remove_self is stock


def test_the_launcher_runs_exabgp_by_path():
    # Its own folder holds routepilot's exabgp.py, which must not hide the package.
    out = subprocess.run(
        [sys.executable, str(LAUNCHER), "version"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ExaBGP" in out.stdout + out.stderr
    assert "unchanged" not in out.stdout


def test_the_speaker_runs_the_installed_exabgp_through_the_launcher():
    router = RouterConfig(name="edge", address="100.64.0.1", asn=65000, local_address="100.64.0.2")
    sp = ExaBGPSpeaker(SpeakerConfig(), [router])
    assert sp._command(Path("/x/exabgp.conf")) == [sys.executable, str(LAUNCHER), "/x/exabgp.conf"]


def test_hexstring_writes_what_exabgps_does():
    from exabgp.util import hexstring

    for value in (b"", b"\x00\xff\x10", bytes(range(256)) * 3):
        assert exabgp_launch.hexstring(value) == hexstring(value)


class _Neighbor(dict):
    def __init__(self, packets: bool, parsed: bool, adj_rib_in: bool = False) -> None:
        super().__init__({"adj-rib-in": adj_rib_in})
        self.api = {
            "receive-packets": ["p"] if packets else [],
            "receive-parsed": ["p"] if parsed else [],
            "receive-consolidate": [],
        }


class _Negotiated:
    def __init__(self, neighbor: _Neighbor) -> None:
        self.neighbor = neighbor


def test_an_update_only_the_apis_packets_need_is_not_parsed(patched):
    from exabgp.bgp.message import Message, Update
    from exabgp.bgp.message.direction import Direction

    body = bytes.fromhex("0000000e40010100400200400304640101011812c612")
    packets_only = _Negotiated(_Neighbor(packets=True, parsed=False))
    skipped = Message.unpack(2, body, Direction.IN, packets_only)
    assert isinstance(skipped, Update) and skipped.nlris == [] and len(skipped.attributes) == 0
    # A neighbor whose API takes parsed updates, or keeps an Adj-RIB-In: ExaBGP's own path
    # (which needs a real Negotiated: the stub has none of its fields, so it fails there).
    for neighbor in (
        _Neighbor(packets=True, parsed=True),
        _Neighbor(packets=True, parsed=False, adj_rib_in=True),
        _Neighbor(packets=False, parsed=True),
    ):
        with pytest.raises(AttributeError):
            Message.unpack(2, body, Direction.IN, _Negotiated(neighbor))
