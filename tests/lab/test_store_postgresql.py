"""The daemon end to end on PostgreSQL: the closed loop in the lab with store.kind
postgresql, its journal served by the API and its time series landing in the server."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from routepilot.lab.spec import LabSpec
from tests.integration.store.pgserver import PgServer
from tests.lab.looplab import FAST_EXPORT, LoopLab

SPEC = {
    "name": "rplabpg",
    "providers": [{"name": "isp1", "asn": 65001}, {"name": "isp2", "asn": 65002}],
    "prefixes": 16,
    "prefixes_v6": 2,
    "export": FAST_EXPORT,  # the traffic's first records come sooner
}


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with PgServer() as server:
        yield server


def counts(pg: PgServer) -> dict[str, int]:
    with psycopg.connect(pg.dsn(), password=pg.password) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("traffic", "provider_traffic", "probes", "decisions")
        }


def test_closed_loop_on_postgresql(pg: PgServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    # The controller runs in the lab's namespaces: the server's unix socket (a file)
    # reaches it where 127.0.0.1 of the host would not.
    dsn = f"host={pg.socket_dir} port={pg.port} user=postgres dbname=postgres"
    loop = LoopLab(
        LabSpec.model_validate(SPEC), tmp_path_factory.mktemp("pgloop"),
        store__kind="postgresql", store__dsn=dsn, store__password_file=str(pg.password_file()),
    )  # fmt: skip
    try:
        loop.up()
        prefix = loop.busiest(1)[0]
        default = loop.exit_of(prefix)
        assert default is not None
        loop.lab.impair(default, [prefix], blackhole=True)
        loop.wait(lambda: loop.exit_of(prefix) not in (default, None), 10, "outage move")
        (move, *_) = loop.api(f"/decisions?prefix={prefix}")
        assert move["reason"] == "outage" and move["from_provider"] == default
        # Flows and probes write once a minute: wait for their rows in the server.
        loop.wait(
            lambda: all(n > 0 for n in counts(pg).values()),
            150,
            "traffic, provider, probe and journal rows in PostgreSQL",
            step=2.0,
            diag=lambda: str(counts(pg)),
        )
    finally:
        loop.down()
