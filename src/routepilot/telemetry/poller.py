"""The telemetry component: polls provider interfaces, keeps rates and the billing ledger.

Every ``interval_s`` each agent gets one GET (split in chunks of a few links, each
with sysUpTime) of its links' counters: ifHCInOctets/ifHCOutOctets and
ifCounterDiscontinuityTime (IF-MIB, RFC 2863), or ifInOctets/ifOutOctets and
ifSpeed for a link whose agent has no 64-bit counters. Links named by ifName are
resolved by walking ifName first, and again after an agent restart (ifIndex may
be renumbered then). Agents are polled concurrently, each in its own task.

Nothing an agent answers (or fails to) raises out of the loop: timeouts, refused
credentials, missing objects and counter discontinuities are counted by reason
in :attr:`Telemetry.metrics` and stated in the link's status.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from routepilot.log import get_logger
from routepilot.telemetry import snmp
from routepilot.telemetry.billing import Sample
from routepilot.telemetry.config import LinkConfig, SnmpAgentConfig, TelemetryConfig
from routepilot.telemetry.counters import (
    AGENT_RESTART,
    CLOCK_MISMATCH,
    Delta,
    Discontinuity,
    Reading,
    delta,
    too_short,
)
from routepilot.telemetry.ledger import BillingLedger
from routepilot.telemetry.metrics import TelemetryMetrics
from routepilot.telemetry.snapshot import SOURCE_NONE, SOURCE_SNMP, LinkRate, TelemetrySnapshot

log = get_logger(__name__)

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HC_IN = "1.3.6.1.2.1.31.1.1.1.6"
IF_HC_OUT = "1.3.6.1.2.1.31.1.1.1.10"
IF_DISCONTINUITY = "1.3.6.1.2.1.31.1.1.1.19"
IF_IN = "1.3.6.1.2.1.2.2.1.10"
IF_OUT = "1.3.6.1.2.1.2.2.1.16"
IF_SPEED = "1.3.6.1.2.1.2.2.1.5"

LINKS_PER_REQUEST = 10
"""Links per GET: 3 varbinds each plus sysUpTime stays far below any agent's PDU limit."""
STALE_INTERVALS = 3
"""A link rate older than this many intervals is shown as unknown (NaN)."""


@dataclass
class _Link:
    config: LinkConfig
    key: str
    if_index: int | None
    width: int = 0
    """64 or 32 once known; 0 while unknown: both kinds of counters are asked for."""
    recheck: bool = False
    """Resolve the name again (after an agent restart) before the next poll."""
    prev: Reading | None = None
    in_bps: float = math.nan
    out_bps: float = math.nan
    updated: float = 0.0
    updated_mono: float = -math.inf
    status: str = "not polled yet"


class Telemetry:
    """Polls every configured link; see the module docstring.

    ``commits_mbps`` maps providers and billing groups to their commit (the
    providers' ``commit_mbps``); ``client_factory`` builds the SNMP client of an
    agent (pysnmp by default; :mod:`routepilot.telemetry.fake` in tests);
    ``ledger`` is the open billing period restored from the store
    (``BillingLedger.from_rows``); ``on_samples`` is called after a round with the
    (provider, sample) pairs it closed, for the store to append; ``on_round`` (an
    attribute the composition root may set) is called after every round with the number
    of samples it closed, to save the ledger and take a snapshot.
    """

    def __init__(
        self,
        config: TelemetryConfig,
        *,
        commits_mbps: Mapping[str, float] | None = None,
        client_factory: Callable[[SnmpAgentConfig], snmp.SnmpClient] | None = None,
        ledger: BillingLedger | None = None,
        on_samples: Callable[[list[tuple[str, Sample]]], None] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.commits_mbps = dict(commits_mbps or {})
        for g in config.billing.groups:
            self.commits_mbps.setdefault(g.name, g.commit_mbps)
        self.clock = clock
        self.monotonic = monotonic
        self.metrics = TelemetryMetrics()
        self.ledger = ledger or BillingLedger(config.billing)
        self._factory = client_factory or _pysnmp_factory()
        self._on_samples = on_samples
        self._clients: dict[str, snmp.SnmpClient] = {}
        self._agent_status: dict[str, str] = {a.name: "not polled yet" for a in config.agents}
        self._links: dict[str, list[_Link]] = {a.name: [] for a in config.agents}
        for lk in config.links:
            name = lk.if_name if lk.if_name is not None else str(lk.if_index)
            self._links[lk.agent].append(_Link(lk, f"{lk.agent}/{name}", lk.if_index))
        self._task: asyncio.Task[None] | None = None
        self.on_round: Callable[[int], None] | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Start polling every ``interval_s`` (no-op when disabled or without links)."""
        if self._task is not None or not self.config.enabled or not self.config.links:
            return
        self._task = asyncio.create_task(self._run(), name="telemetry-poller")

    async def stop(self) -> None:
        """Stop polling and close the SNMP clients."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        close = getattr(self._factory, "close", None)
        if close is not None:
            close()

    async def _run(self) -> None:
        interval = self.config.interval_s
        next_at = self.monotonic()
        while True:
            try:
                await self.poll_once()
            except Exception:  # a bug must not end polling; it is logged with its trace
                log.exception("telemetry round failed")
            next_at += interval
            now = self.monotonic()
            if next_at < now:  # a round overran: skip the missed ticks, do not burst
                next_at = now + interval - (now - next_at) % interval
            await asyncio.sleep(next_at - now)

    # -- one round ----------------------------------------------------------------

    async def poll_once(self) -> None:
        """Poll every agent once, concurrently, then close billing samples that are due."""
        t0 = self.monotonic()
        await asyncio.gather(*(self._poll_agent(a) for a in self.config.agents))
        grace = 1.5 * self.config.interval_s + max(
            (a.timeout_s * (a.retries + 1) for a in self.config.agents), default=0.0
        )
        new = self.ledger.close(self.clock(), grace)
        self.metrics.samples_closed += len(new)
        if new and self._on_samples is not None:
            try:
                self._on_samples(new)
            except Exception:  # a failing store must not stop polling; the ledger keeps them
                log.exception("telemetry sample sink failed")
        self.metrics.late_octets = self.ledger.late_octets
        self.metrics.rounds += 1
        self.metrics.round_seconds += self.monotonic() - t0
        if self.on_round is not None:
            try:
                self.on_round(len(new))
            except Exception:  # as above: the round's results are kept whatever it does
                log.exception("telemetry round callback failed")

    def _client(self, agent: SnmpAgentConfig) -> snmp.SnmpClient:
        client = self._clients.get(agent.name)
        if client is None:
            client = self._clients[agent.name] = self._factory(agent)
        return client

    def _fail(self, agent: str, links: list[_Link], err: snmp.SnmpError) -> None:
        self.metrics.errors[(agent, err.reason)] += 1
        status = f"{err.reason}: {err.detail}"
        if self._agent_status[agent] != status:  # logged when it starts, counted every time
            log.warning("snmp request failed", agent=agent, reason=err.reason, detail=err.detail)
        self._agent_status[agent] = status
        for link in links:
            link.status = status

    async def _resolve(self, agent: SnmpAgentConfig, links: list[_Link]) -> None:
        client = self._client(agent)
        self.metrics.requests[agent.name] += 1
        table = await client.walk(IF_NAME)
        if isinstance(table, snmp.SnmpError):
            self._fail(agent.name, links, table)
            return
        by_name = {str(v): int(oid.rsplit(".", 1)[1]) for oid, v in table.items()}
        for link in links:
            idx = by_name.get(link.config.if_name or "")
            if idx is None:
                self.metrics.errors[(agent.name, snmp.NO_SUCH_OBJECT)] += 1
                link.status = f"no interface named {link.config.if_name!r} in ifName"
                link.if_index, link.prev = None, None
            elif idx != link.if_index:
                link.if_index, link.prev, link.width = idx, None, 0
            link.recheck = False

    async def _poll_agent(self, agent: SnmpAgentConfig) -> None:
        links = self._links[agent.name]
        unresolved = [lk for lk in links if lk.if_index is None or lk.recheck]
        if unresolved:
            await self._resolve(agent, unresolved)
        ready = [lk for lk in links if lk.if_index is not None]
        for i in range(0, len(ready), LINKS_PER_REQUEST):
            await self._poll_chunk(agent, ready[i : i + LINKS_PER_REQUEST])

    async def _poll_chunk(self, agent: SnmpAgentConfig, links: list[_Link]) -> None:
        oids = [SYS_UPTIME]
        for lk in links:
            i = lk.if_index
            if lk.width in (0, 64):
                oids += [f"{IF_HC_IN}.{i}", f"{IF_HC_OUT}.{i}"]
            if lk.width in (0, 32):
                oids += [f"{IF_IN}.{i}", f"{IF_OUT}.{i}", f"{IF_SPEED}.{i}"]
            oids.append(f"{IF_DISCONTINUITY}.{i}")
        self.metrics.requests[agent.name] += 1
        asked = self.monotonic()
        answer = await self._client(agent).get(oids)
        mono, wall = self.monotonic(), self.clock()
        if isinstance(answer, snmp.SnmpError):
            self._fail(agent.name, links, answer)
            return
        uptime = answer.get(SYS_UPTIME)
        if not isinstance(uptime, int):
            self._fail(agent.name, links, snmp.SnmpError(snmp.NO_SUCH_OBJECT, "no sysUpTime"))
            return
        self._agent_status[agent.name] = "ok"
        for lk in links:
            self._update(agent.name, lk, answer, uptime, (asked, mono), wall)

    def _update(
        self,
        agent: str,
        lk: _Link,
        answer: Mapping[str, int | str | None],
        uptime: int,
        window: tuple[float, float],
        wall: float,
    ) -> None:
        """``window``: the poller's monotonic clock when the request left and when its
        answer was read."""
        asked, mono = window
        i = lk.if_index
        hc = answer.get(f"{IF_HC_IN}.{i}"), answer.get(f"{IF_HC_OUT}.{i}")
        lo = answer.get(f"{IF_IN}.{i}"), answer.get(f"{IF_OUT}.{i}")
        v_in: int
        v_out: int
        if lk.width in (0, 64) and isinstance(hc[0], int) and isinstance(hc[1], int):
            lk.width, v_in, v_out = 64, hc[0], hc[1]
        elif lk.width in (0, 32) and isinstance(lo[0], int) and isinstance(lo[1], int):
            if lk.width == 0:
                # No ifHC*Octets here (an old agent, or an interface slower than 20 Mb/s,
                # which RFC 2863 lets skip them): the 32-bit counters, with wrap handling.
                self.metrics.fallbacks_32bit += 1
                log.info("snmp 32-bit fallback", agent=agent, link=lk.key)
            lk.width, v_in, v_out = 32, lo[0], lo[1]
        else:
            # Neither kind of counter (or not the kind used so far): the interface is gone
            # or was renumbered. Ask for both kinds again, and resolve the name again.
            self.metrics.errors[(agent, snmp.NO_SUCH_OBJECT)] += 1
            lk.status = f"no counters for ifIndex {i} (interface removed or renumbered?)"
            lk.prev, lk.width = None, 0
            if lk.config.if_name is not None:
                lk.if_index = None
            return
        disc = answer.get(f"{IF_DISCONTINUITY}.{i}")
        speed = answer.get(f"{IF_SPEED}.{i}") if lk.width == 32 else 0
        if lk.prev is not None and lk.prev.width != lk.width:
            lk.prev = None  # the other kind of counter: start again from this reading
        cur = Reading(
            mono,
            wall,
            uptime,
            v_in,
            v_out,
            lk.width,
            disc if isinstance(disc, int) else None,
            speed if isinstance(speed, int) else 0,
            asked,
        )
        prev = lk.prev
        if prev is None:
            lk.prev, lk.status = cur, "ok (first reading)"
            return
        if too_short(prev, cur):
            # A poll right after the previous one (the round that resolved ifName, say):
            # the older reading stays the base, so the next interval is rated in full.
            self.metrics.short_intervals += 1
            return
        lk.prev = cur
        d = delta(prev, cur)
        if isinstance(d, Discontinuity):
            self.metrics.discontinuities[(agent, d.reason)] += 1
            lk.status = f"{d.reason}: {d.detail}; interval dropped"
            if d.reason in (AGENT_RESTART, CLOCK_MISMATCH) and lk.config.if_name is not None:
                lk.recheck = True  # a restarted router may have renumbered its interfaces
            log.warning("snmp counter discontinuity", agent=agent, link=lk.key, reason=d.reason)
            return
        self._record(lk, d, mono)

    def _record(self, lk: _Link, d: Delta, mono: float) -> None:
        self.metrics.deltas += 1
        lk.in_bps, lk.out_bps = d.in_bps, d.out_bps
        lk.updated, lk.updated_mono = d.end_wall, mono
        lk.status = "ok"
        self.ledger.add(
            lk.config.provider, lk.key, d.start_wall, d.end_wall, d.in_octets, d.out_octets
        )

    # -- output ------------------------------------------------------------------

    def snapshot(self) -> TelemetrySnapshot:
        """Rates, billing status and warnings now."""
        now = self.clock()
        if not self.config.enabled or not self.config.links:
            return TelemetrySnapshot.empty(now)
        mono = self.monotonic()
        horizon = STALE_INTERVALS * self.config.interval_s
        rates: list[LinkRate] = []
        p_in: dict[str, float] = {}
        p_out: dict[str, float] = {}
        warnings: list[str] = []
        for agent, links in self._links.items():
            if self._agent_status[agent] not in ("ok", "not polled yet"):
                warnings.append(f"agent {agent}: {self._agent_status[agent]}")
            for lk in links:
                fresh = mono - lk.updated_mono <= horizon
                r_in = lk.in_bps if fresh else math.nan
                r_out = lk.out_bps if fresh else math.nan
                status = lk.status if fresh or lk.status != "ok" else "stale: no recent answer"
                name = lk.config.if_name or str(lk.config.if_index)
                rates.append(
                    LinkRate(
                        lk.config.provider,
                        agent,
                        name,
                        lk.if_index,
                        r_in,
                        r_out,
                        lk.updated,
                        lk.width,
                        status,
                    )
                )
                if not status.startswith(("ok", "not polled yet")):
                    warnings.append(f"link {lk.key} ({lk.config.provider}): {status}")
                p = lk.config.provider
                p_in[p] = p_in.get(p, 0.0) + r_in
                p_out[p] = p_out.get(p, 0.0) + r_out
        names = sorted({lk.provider for lk in self.config.links})
        names += [g.name for g in self.config.billing.groups]
        billing = {n: self.ledger.status(n, self.commits_mbps.get(n, 0.0) * 1e6) for n in names}
        errors: dict[str, int] = {}
        for (_agent, reason), n in [
            *self.metrics.errors.items(),
            *self.metrics.discontinuities.items(),
        ]:
            errors[reason] = errors.get(reason, 0) + n
        return TelemetrySnapshot(
            now, SOURCE_SNMP, tuple(rates), p_in, p_out, billing, errors, tuple(warnings)
        )


def _pysnmp_factory() -> Callable[[SnmpAgentConfig], snmp.SnmpClient]:
    # Imported here so that importing the stage (its config, the fakes) does not load pysnmp.
    from routepilot.telemetry.pysnmp_client import PysnmpFactory

    return PysnmpFactory()


__all__ = ["SOURCE_NONE", "Telemetry"]
