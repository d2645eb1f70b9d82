"""TCP-MD5 (RFC 2385) on the iBGP session, against a real BIRD 2 and a real FRR 8.4 (each
test runs against both) through each real speaker.

The right password establishes the session and every path arrives; a wrong one never
establishes, and the drops it causes are counted by the kernel of the namespace the
speaker runs in and shown by routepilot (``routepilot_bgp_tcp_md5_drops_total``). The
password is hex-looking on purpose: ExaBGP's ``md5-base64 auto`` would read it as base64;
routepilot always hands it over base64-encoded with ``md5-base64 true`` (gobgpd takes it
as a TOML string).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
from tests.fixtures.netns import Namespaces, wait_for

from routepilot.config.models import RouterConfig
from routepilot.rib.rib import Rib
from routepilot.rib.speaker import make_speaker
from routepilot.rib.speaker.exabgp import parse_tcp_md5_drops

from .conftest import (
    ASN,
    BIRD_CONF,
    EXPECTED_PROVIDERS,
    LOCAL,
    PROVIDERS,
    ROUTER,
    Edge,
    _namespace,
    _start_bird,
    speaker_config,
)
from .frr import FRR_CONF, FRR_DIR, FRR_EXPECTED_PROVIDERS, FrrEdge, FrrLab

PASSWORD = "deadbeef0042"

# The edge router under test, started with the password it expects from routepilot, and
# every path routepilot must learn from it.
EdgeFactory = Callable[[str], "Edge | FrrEdge"]


def _bird_edge(namespaces: Namespaces, password: str) -> Edge:
    if shutil.which("bird") is None:
        pytest.skip("bird2 is not installed")
    netns = _namespace(namespaces, ROUTER, LOCAL)
    conf = BIRD_CONF.format(router=ROUTER, local=LOCAL, asn=ASN)
    conf = conf.replace("  hold time 9;\n", f'  hold time 9;\n  password "{password}";\n', 1)
    assert "password" in conf
    return _start_bird(namespaces, netns, "bird", conf)


def _frr_conf(password: str) -> str:
    conf = FRR_CONF.replace(
        f" neighbor {LOCAL} timers connect 1\n",
        f" neighbor {LOCAL} timers connect 1\n neighbor {LOCAL} password {password}\n",
    )
    assert "password" in conf
    return conf


@pytest.fixture(params=["bird", "frr"])
def md5_edge(
    request: pytest.FixtureRequest, namespaces: Namespaces
) -> Iterator[tuple[EdgeFactory, dict]]:
    """(start the edge with a password, the providers routepilot must learn per prefix)."""
    if request.param == "bird":
        yield (lambda password: _bird_edge(namespaces, password)), EXPECTED_PROVIDERS
        return
    if not (FRR_DIR / "bgpd").exists():
        pytest.skip("frr is not installed")
    labs: list[FrrLab] = []

    def frr(password: str) -> FrrEdge:
        labs.append(FrrLab(namespaces, _frr_conf(password)))
        edge = labs[-1].up()
        wait_for(edge.providers_established, timeout=60)
        return edge

    try:
        yield frr, FRR_EXPECTED_PROVIDERS
    finally:
        for lab in labs:
            lab.down()


def _netns_md5_drops(netns: str) -> dict[str, int]:
    out = subprocess.run(
        ["ip", "netns", "exec", netns, "cat", "/proc/net/netstat"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout
    return parse_tcp_md5_drops(out)


async def _until(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def _speaker(edge: Edge | FrrEdge, password_env: str, backend: str):  # type: ignore[no-untyped-def]
    router = RouterConfig(
        name="edge", address=ROUTER, asn=ASN, local_address=LOCAL, md5_password_env=password_env
    )
    config = speaker_config(backend, edge.netns, listen=isinstance(edge, Edge), restart_delay=0.2)
    speaker = make_speaker(config, [router])
    rib = Rib(["edge"], PROVIDERS, families=config.families)  # synced: every family's in

    async def pump() -> None:
        async for event in speaker.events():
            rib.handle(event)

    await speaker.start()
    task = asyncio.create_task(pump())
    try:
        yield speaker, rib
    finally:
        await speaker.stop()
        task.cancel()


def test_the_right_password_establishes_and_every_path_arrives(
    md5_edge: tuple[EdgeFactory, dict], monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    start, expected = md5_edge
    edge = start(PASSWORD)
    monkeypatch.setenv("RP_TEST_MD5", PASSWORD)

    async def scenario() -> None:
        async with _speaker(edge, "RP_TEST_MD5", backend) as (_, rib):
            await _until(lambda: rib.synced("edge"))
            snap = rib.snapshot()
            assert {
                p: {snap.providers[k] for k in range(len(snap.providers)) if snap.has_route[i, k]}
                for i, p in enumerate(snap.prefixes)
            } == expected
            assert edge.session_established()
            # The session really is signed: the router's kernel verified every segment.
            assert _netns_md5_drops(edge.netns).get("failure", 0) == 0

    asyncio.run(scenario())


def test_a_wrong_password_never_establishes_and_its_drops_are_counted(
    md5_edge: tuple[EdgeFactory, dict], monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    start, _ = md5_edge
    edge = start(PASSWORD)
    monkeypatch.setenv("RP_TEST_MD5", "not-the-password")

    async def scenario() -> None:
        async with _speaker(edge, "RP_TEST_MD5", backend) as (speaker, rib):
            # Our SYNs carry a digest the router's kernel cannot verify (and the router's, when
            # gobgpd listens, one ours cannot): they are dropped, counted as TCPMD5Failure in
            # the namespace both run in, and routepilot reads the counter.
            await _until(lambda: speaker.metrics.tcp_md5_drops.get("failure", 0) >= 2)
            assert not rib.session_up["edge"] and not edge.session_established()
            assert rib.snapshot().prefixes == ()

    asyncio.run(scenario())
