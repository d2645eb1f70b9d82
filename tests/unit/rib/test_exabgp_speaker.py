"""The ExaBGP backend's generated configuration and API commands (no process started)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from routepilot.config.models import RouterConfig
from routepilot.rib.config import ExaBGPConfig, SpeakerConfig
from routepilot.rib.speaker import BACKENDS, make_speaker
from routepilot.rib.speaker.base import InjectedRoute
from routepilot.rib.speaker.exabgp import ExaBGPSpeaker

ROUTERS = [
    RouterConfig(name="edge1", address="100.64.0.1", asn=65000, local_address="100.64.0.2"),
    RouterConfig(name="edge2", address="2001:db8::1", asn=65000),
]


def speaker(**kw) -> ExaBGPSpeaker:
    return ExaBGPSpeaker(SpeakerConfig(**kw), ROUTERS)


def route(prefix: str, nh: str = "100.64.1.1") -> InjectedRoute:
    return InjectedRoute(prefix, nh, 500, ("no-export", "no-advertise"))


def test_config_has_a_neighbor_per_router_with_add_path_receive():
    text = speaker(hold_time=6, router_id="100.64.0.2").render_config("/run/rp.sock")
    assert "run " in text and "exabgp_relay.py /run/rp.sock;" in text
    assert "encoder json;" in text
    assert text.count("neighbor ") == 2
    assert "neighbor 100.64.0.1 {" in text and "neighbor 2001:db8::1 {" in text
    assert "local-address 100.64.0.2;" in text
    assert text.count("hold-time 6;") == 2
    assert text.count("add-path receive;") == 2
    assert "family { ipv4 unicast; ipv6 unicast; }" in text
    assert "router-id 100.64.0.2;" in text
    # ExaBGP keeps no Adj-RIB-In copy of the table: routepilot's RIB is the one (#18).
    assert text.count("adj-rib-in false;") == 2


def test_exabgp_itself_accepts_the_configuration(tmp_path):
    """ExaBGP's own parser reads what routepilot writes, Adj-RIB-In off included."""
    conf = tmp_path / "exabgp.conf"
    conf.write_text(speaker(router_id="100.64.0.2").render_config(str(tmp_path / "api.sock")))
    exabgp = Path(sys.executable).with_name("exabgp")
    done = subprocess.run(
        [str(exabgp), "validate", "-nrv", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "adj-rib-in       | 'false'" in done.stdout + done.stderr


def test_announcements_are_batched_per_attribute_set():
    sp = speaker(batch_size=2)
    routes = [route("198.18.0.0/24"), route("198.18.1.0/24"), route("198.18.2.0/24")]
    routes.append(route("198.18.3.0/24", "100.64.2.1"))
    assert sp.commands("announce", routes) == [
        "announce attributes next-hop 100.64.1.1 local-preference 500 "
        "community [ no-export no-advertise ] nlri 198.18.0.0/24 198.18.1.0/24",
        "announce attributes next-hop 100.64.1.1 local-preference 500 "
        "community [ no-export no-advertise ] nlri 198.18.2.0/24",
        "announce attributes next-hop 100.64.2.1 local-preference 500 "
        "community [ no-export no-advertise ] nlri 198.18.3.0/24",
    ]


def test_commands_for_one_router_and_withdrawals():
    sp = speaker()
    assert sp.commands("withdraw", [route("198.18.0.0/24")], "edge1") == [
        "neighbor 100.64.0.1 withdraw attributes next-hop 100.64.1.1 nlri 198.18.0.0/24"
    ]


def test_command_prefix_and_environment():
    sp = speaker(exabgp=ExaBGPConfig(wrapper=["ip", "netns", "exec", "ctl"], command=["exa"]))
    assert sp._command("/x/exabgp.conf") == ["ip", "netns", "exec", "ctl", "exa", "/x/exabgp.conf"]
    env = sp._environment()
    assert env["exabgp_api_ack"] == "false"
    assert env["exabgp_api_terminate"] == "true"


def test_backends_registry_builds_exabgp():
    assert "exabgp" in BACKENDS
    assert isinstance(make_speaker(SpeakerConfig(), ROUTERS), ExaBGPSpeaker)


def test_a_speaker_that_keeps_dying_is_restarted_with_backoff():
    import asyncio
    import sys

    from routepilot.rib.speaker.base import SpeakerRestarted

    crash = [sys.executable, "-c", "print('bad configuration'); raise SystemExit(3)"]
    sp = speaker(restart_delay=0.05, exabgp=ExaBGPConfig(command=crash, start_timeout=5))

    async def scenario() -> list:
        await sp.start()
        for _ in range(100):
            if sp.metrics.restarts >= 3:
                break
            await asyncio.sleep(0.05)
        await sp.stop()
        return sp.pending_events()

    events = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert sp.metrics.restarts >= 3
    assert all(isinstance(e, SpeakerRestarted) for e in events)
    assert "exited with 3" in events[0].reason


def test_router_id_must_be_a_non_zero_ipv4_address():
    import pytest
    from pydantic import ValidationError

    for bad in ("0.0.0.0", "2001:db8::1", "router"):
        with pytest.raises(ValidationError):
            SpeakerConfig(router_id=bad)
    assert SpeakerConfig(router_id="100.64.0.2").router_id == "100.64.0.2"


def test_large_communities_and_as_path_are_announced():
    sp = speaker()
    r = InjectedRoute(
        "198.18.0.0/24", "100.64.1.1", 450, ("no-export",), ("64500:1:2",), (65001, 64601)
    )
    assert sp.commands("announce", [r]) == [
        "announce attributes next-hop 100.64.1.1 local-preference 450 community [ no-export ] "
        "large-community [ 64500:1:2 ] as-path [ 65001 64601 ] nlri 198.18.0.0/24"
    ]
