"""The GoBGP backend's generated configuration (checked by gobgpd itself when it is
installed); no daemon runs. Needs the stubs ``make gobgp-api`` generates (test_gobgp_stubs)."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from pydantic import SecretStr

from routepilot.config.models import RouterConfig
from routepilot.rib.config import GoBGPConfig, SpeakerConfig
from routepilot.rib.speaker import make_speaker

pytest.importorskip(
    "routepilot.rib.speaker.gobgp_api._gen.gobgp_pb2", reason="no GoBGP stubs: make gobgp-api"
)
from routepilot.rib.speaker.gobgp import GoBGPSpeaker  # noqa: E402

ROUTERS = [
    RouterConfig(name="edge1", address="100.64.0.1", asn=65000, local_address="100.64.0.2"),
    RouterConfig(name="edge2", address="2001:db8::1", asn=65001),
]
# As if read from md5_password_file: a password with characters TOML must escape.
ROUTERS[0]._md5_password = SecretStr('se"cr\\et')


def speaker(**kw) -> GoBGPSpeaker:
    return GoBGPSpeaker(SpeakerConfig(backend="gobgp", **kw), ROUTERS)


def test_the_backend_is_chosen_by_configuration():
    assert isinstance(make_speaker(SpeakerConfig(backend="gobgp"), ROUTERS), GoBGPSpeaker)


def test_config_has_a_neighbor_per_router_with_add_path_receive():
    doc = tomllib.loads(speaker(hold_time=6).render_config())
    assert doc["global"]["config"] == {"as": 65000, "router-id": "100.64.0.2", "port": -1}
    n1, n2 = doc["neighbors"]
    assert n1["config"]["neighbor-address"] == "100.64.0.1"
    assert (n1["config"]["peer-as"], n1["config"]["local-as"]) == (65000, 65000)
    assert (n2["config"]["peer-as"], n2["config"]["local-as"]) == (65001, 65001)
    # Any character of a password survives the quoting.
    assert n1["config"]["auth-password"] == 'se"cr\\et' and "auth-password" not in n2["config"]
    assert n1["transport"]["config"] == {"passive-mode": False, "local-address": "100.64.0.2"}
    assert n1["timers"]["config"]["hold-time"] == 6
    assert n1["timers"]["config"]["keepalive-interval"] == 2
    for n in (n1, n2):
        families = [a["config"]["afi-safi-name"] for a in n["afi-safis"]]
        assert families == ["ipv4-unicast", "ipv6-unicast"]
        assert all(a["add-paths"]["config"]["receive"] for a in n["afi-safis"])


def test_the_routers_paths_stay_out_of_the_global_rib():
    doc = tomllib.loads(speaker().render_config())
    policy = doc["global"]["apply-policy"]["config"]
    assert policy["default-import-policy"] == "accept-route"
    (name,) = policy["import-policy-list"]
    (definition,) = [p for p in doc["policy-definitions"] if p["name"] == name]
    (statement,) = definition["statements"]
    assert statement["actions"]["route-disposition"] == "reject-route"
    neighbors = statement["conditions"]["match-neighbor-set"]["neighbor-set"]
    (matched,) = [
        s for s in doc["defined-sets"]["neighbor-sets"] if s["neighbor-set-name"] == neighbors
    ]
    assert matched["neighbor-info-list"] == ["100.64.0.1", "2001:db8::1"]


def test_families_and_router_id_follow_the_configuration():
    doc = tomllib.loads(speaker(families=["ipv6 unicast"], router_id="192.0.2.7").render_config())
    assert doc["global"]["config"]["router-id"] == "192.0.2.7"
    assert [a["config"]["afi-safi-name"] for a in doc["neighbors"][0]["afi-safis"]] == [
        "ipv6-unicast"
    ]
    bare = GoBGPSpeaker(SpeakerConfig(backend="gobgp"), [ROUTERS[1]])
    with pytest.raises(ValueError, match="router_id"):
        bare.render_config()


def test_command_runs_gobgpd_in_its_wrapper_with_a_unix_socket_api():
    s = speaker(gobgp=GoBGPConfig(wrapper=["ip", "netns", "exec", "ctl"], cpus=1))
    command = s._command(Path("/run/rp/gobgpd.toml"), Path("/run/rp/api.sock"))
    assert command[:5] == ["ip", "netns", "exec", "ctl", "gobgpd"]
    assert command[command.index("-f") + 1] == "/run/rp/gobgpd.toml"
    assert command[command.index("--api-hosts") + 1] == "unix:///run/rp/api.sock"
    assert command[-2:] == ["--cpus", "1"]


@pytest.mark.skipif(shutil.which("gobgpd") is None, reason="gobgpd is not installed")
def test_gobgpd_accepts_the_configuration(tmp_path: Path):
    conf = tmp_path / "gobgpd.toml"
    conf.write_text(speaker().render_config())
    out = subprocess.run(
        ["gobgpd", "-f", str(conf), "-t", "toml", "-d"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_listening_is_off_by_default_and_on_the_local_addresses_when_asked():
    # Routers with a local address each: gobgpd listens on those, and only those.
    one = [ROUTERS[0]]
    listening = GoBGPSpeaker(SpeakerConfig(backend="gobgp", gobgp=GoBGPConfig(listen=True)), one)
    doc = tomllib.loads(listening.render_config())
    assert doc["global"]["config"]["port"] == 179
    assert doc["global"]["config"]["local-address-list"] == ["100.64.0.2"]
    # A router without one: every address (gobgpd's default list).
    doc = tomllib.loads(speaker(gobgp=GoBGPConfig(listen=True)).render_config())
    assert doc["global"]["config"]["port"] == 179
    assert "local-address-list" not in doc["global"]["config"]


@pytest.mark.skipif(shutil.which("gobgpd") is None, reason="gobgpd is not installed")
def test_gobgpd_accepts_the_listening_configuration(tmp_path: Path):
    conf = tmp_path / "gobgpd.toml"
    conf.write_text(speaker(gobgp=GoBGPConfig(listen=True)).render_config())
    out = subprocess.run(
        ["gobgpd", "-f", str(conf), "-t", "toml", "-d"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stdout + out.stderr
