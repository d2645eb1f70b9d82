"""GoBGP's gRPC stubs are generated at setup, not committed: the generator makes stubs
that load and have what the backend calls, and without them choosing the GoBGP backend
says how to make them (everything else runs without them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from routepilot.config.models import RouterConfig
from routepilot.rib.config import SpeakerConfig
from routepilot.rib.speaker import gobgp_api, make_speaker
from routepilot.rib.speaker.gobgp_api import StubsMissing, generate

ROUTERS = [RouterConfig(name="edge1", address="100.64.0.1", asn=65000)]

# What the backend uses: the service's stub and calls, and the messages it builds.
CHECK = """
import stubs.gobgp_pb2_grpc as g, stubs.gobgp_pb2 as pb, stubs.watch_pb2 as w
import stubs.attribute_pb2 as a
for call in ("GetBgp", "ListPeer", "AddPathStream", "WatchEvent"):
    assert hasattr(g.GobgpApiServicer, call), call
g.GobgpApiStub
svc = pb.DESCRIPTOR.services_by_name["GobgpApi"]
assert svc.full_name == "apipb.GobgpApi", svc.full_name
assert svc.methods_by_name["WatchEvent"].output_type.full_name == "apipb.WatchEventResponse"
pb.WatchEventRequest.Table.Filter.ADJIN, pb.PeerState.ESTABLISHED, pb.Family.AFI_IP6
a.IPAddressPrefix, a.AsSegment.AS_SEQUENCE, w.WatchResponse
print("ok")
"""


def test_generation_makes_stubs_that_load_and_have_the_calls_used(tmp_path: Path):
    pytest.importorskip("grpc_tools", reason="grpcio-tools (a dev dependency) not installed")
    try:
        proto_dir = generate.find_proto_dir()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    out = tmp_path / "stubs"
    generate.generate(out, proto_dir)
    assert sorted(p.name for p in out.glob("*.py")) == sorted([*generate.OUTPUTS, "__init__.py"])
    # Generating again replaces the package whole (make setup may run it any time).
    generate.generate(out, proto_dir)
    assert not list(tmp_path.glob(".gen-*"))
    # A fresh interpreter: the stubs import each other within their package.
    run = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_without_stubs_the_gobgp_backend_names_the_command(monkeypatch):
    monkeypatch.setattr(gobgp_api, "_GEN", gobgp_api.__name__ + "._absent")
    with pytest.raises(StubsMissing, match="run `make gobgp-api`"):
        make_speaker(SpeakerConfig(backend="gobgp"), ROUTERS)


def test_the_default_backend_needs_no_stubs(monkeypatch):
    monkeypatch.setattr(gobgp_api, "_GEN", gobgp_api.__name__ + "._absent")
    speaker = make_speaker(SpeakerConfig(), ROUTERS)
    assert type(speaker).__name__ == "ExaBGPSpeaker"
