"""The controller as the API, dashboard, CLI and reports see it (``ControllerView``).

Reads come from the last decision round's snapshots and from the store; they
may be called from the API's worker threads, so they only read values the
controller replaces whole (snapshots, results) and never mutate them. Actions
are applied between decision rounds.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import math
import socket
from collections.abc import Coroutine, Mapping
from dataclasses import asdict
from typing import Any, Protocol

import numpy as np

from routepilot import __version__
from routepilot.decide import Reason
from routepilot.run.billing_view import billing_view
from routepilot.run.controller import Controller
from routepilot.run.minute import minute_points
from routepilot.run.reload import ReloadRefused
from routepilot.store import Query
from routepilot.telemetry.snapshot import SOURCE_SNMP, TelemetrySnapshot
from routepilot.view import ActionError, SeriesQuery


class Reloader(Protocol):
    """What applies a new configuration (``run/wiring.py``'s daemon)."""

    async def reload_file(self, source: str = "file") -> dict: ...
    async def apply_data(self, data: object, source: str = "api") -> dict: ...


def _num(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def _clean(value: Any) -> Any:
    """Plain JSON: NaN and infinities (unknown rates) become null."""
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def telemetry_status(snap: TelemetrySnapshot) -> dict:
    """Where link rates come from, the SNMP rate of each provider and its billing."""
    if snap.source != SOURCE_SNMP:
        return {"link_source": "flows", "time": snap.time, "providers": {}, "groups": {},
                "links": [], "errors": {}, "warnings": []}  # fmt: skip
    names = sorted({lk.provider for lk in snap.links})
    providers = {
        p: {
            "in_bps": _num(snap.provider_in_bps.get(p, math.nan)),
            "out_bps": _num(snap.provider_out_bps.get(p, math.nan)),
            "known": snap.known(p),
            "billing": _clean(snap.billing[p].as_dict()) if p in snap.billing else None,
        }
        for p in names
    }
    groups = {n: _clean(b.as_dict()) for n, b in snap.billing.items() if n not in providers}
    links = [
        {
            "provider": lk.provider,
            "agent": lk.agent,
            "interface": lk.interface,
            "if_index": lk.if_index,
            "in_bps": _num(lk.in_bps),
            "out_bps": _num(lk.out_bps),
            "updated": lk.updated or None,
            "counter_bits": lk.counter_bits or None,
            "status": lk.status,
        }
        for lk in snap.links
    ]
    return {
        "link_source": "snmp",
        "time": snap.time,
        "providers": providers,
        "groups": groups,
        "links": links,
        "errors": dict(snap.errors),
        "warnings": list(snap.warnings),
    }


class DaemonView:
    """``ControllerView`` over a running :class:`Controller`."""

    def __init__(
        self,
        controller: Controller,
        loop: asyncio.AbstractEventLoop,
        settings: Mapping[str, Any],
        reloader: Reloader | None = None,
    ) -> None:
        """``settings`` is the configuration as JSON, for ``config()``; ``reloader``
        applies a new one (the daemon; None: reloads are refused)."""
        self.c = controller
        self.loop = loop
        self.store = controller.store.reads()
        self._settings = dict(settings)
        self._reloader = reloader
        self.diagnosis: Any = None
        """diagnose/'s component when the daemon runs one (set by run/wiring.py)."""

    def set_settings(self, settings: Mapping[str, Any]) -> None:
        """The configuration in force after a reload."""
        self._settings = dict(settings)

    # -- helpers ------------------------------------------------------------------

    def _rollup_s(self) -> float:
        """The probe rollups' length: the finest step the measurements have."""
        return float(self._settings.get("probe", {}).get("rollup_s", 60))

    def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.c.spawn(coro)
        else:
            asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def _prefix_key(self, prefix: str) -> str:
        try:
            return str(ipaddress.ip_network(prefix.replace("_", "/"), strict=False))
        except ValueError:
            raise ActionError(f"bad prefix {prefix!r}: expected e.g. 198.18.3.0/24", 400) from None

    def _provider(self, name: str) -> None:
        if name not in self.c.provider_names:
            known = ", ".join(self.c.provider_names)
            raise ActionError(f"unknown provider {name!r} (known: {known})", 404)

    # -- reads ----------------------------------------------------------------------

    def status(self) -> dict:
        c = self.c
        now = c.clock()
        degraded = []
        # Stalled when no round begins, not when rounds decide nothing: a paused daemon,
        # a standby or a table still arriving is not a stalled one.
        began = c.cycle_stats.began
        if began is not None and now - began > 10 * c.settings.cycle_s:
            degraded.append(f"decision rounds stalled: none began in {now - began:.0f} s")
        down = [r for r, up in c.rib.session_up.items() if not up]
        if down:
            degraded.append("bgp session down: " + ", ".join(sorted(down)))
        for router, quiet_s in sorted(c.rib.silent().items()):
            degraded.append(
                f"router {router} has sent no route in {quiet_s:.0f} s since its session "
                "came up: its table is taken as empty, and no provider is called out for "
                "missing routes until it sends"
            )
        md5 = {
            r["name"]
            for r in self._settings.get("routers", [])
            if r.get("md5_password_file") or r.get("md5_password_env")
        }
        for router in sorted(set(down) & md5):
            drops = sum(c.speaker.metrics.tcp_md5_drops.values())
            degraded.append(
                f"bgp session to {router} down with TCP-MD5 on: a router whose password "
                "differs drops our connection attempts without a word, so check the password "
                f"on both sides ({drops} segments dropped here for a missing or wrong digest)"
            )
        degraded += c.warnings
        if c.warm_start_active:
            degraded.append("flows not back yet: using the last stored minute of traffic")
        if c.cycle_stats.errors:
            degraded.append(f"{c.cycle_stats.errors} decision rounds failed")
        telemetry = telemetry_status(
            c.telemetry.snapshot() if c.telemetry is not None else TelemetrySnapshot.empty(now)
        )
        degraded += [f"telemetry: {w}" for w in telemetry["warnings"]]
        result = c.last_result
        return {
            "version": __version__,
            "started": c.started,
            "now": now,
            "paused": c.operator.paused,
            "dry_run": c.injector.dry_run,
            "cycle": {
                "count": c.cycle_stats.count,
                "last": c.cycle_stats.last,
                "duration_ms": round(c.cycle_stats.duration_ms, 3),
            },
            "sessions": {
                r: ("established" if up else "down") for r, up in c.rib.session_up.items()
            },
            "degraded": degraded,
            "counts": {
                "prefixes": len(result.prefixes) if result else 0,
                "active_improvements": len(c.injections()),
                "moves_last_hour": c.moves_last_hour,
            },
            "telemetry": telemetry,
            "routes": {
                "state": c.routes.state(),
                "routers": {r: c.rib.state(r) for r in c.rib.routers},
                "paths": c.rib.table.paths,
                "prefixes": len(c.rib.table.prefix_list),
            },
            "ha": self.ha(),
        }

    def alert_view(self) -> tuple[dict, list[dict]]:
        """``status()`` and ``providers()`` as the alert manager is to judge them.

        ``providers()`` says whether a provider has a route from the last round's routes,
        and the manager calls a provider without one out only on whole tables
        (``routes.state``). Whole now is not enough: the routes must have been read from
        whole tables. At start, a round that read no route yet, paired with tables whole
        by the time the alerts looked, called every provider out (#18). So once the
        tables are whole (``synced``, ``down``), the state given is the one that round
        read its routes in."""
        status, providers = self.status(), self.providers()
        inputs = self.c.last_inputs
        taken = inputs[1].state if inputs is not None else "waiting"
        if taken is not None and status["routes"]["state"] in ("synced", "down"):
            status["routes"] = {**status["routes"], "state": taken}
        return status, providers

    def providers(self) -> list[dict]:
        c = self.c
        traffic, routes, meas = c.last_inputs or (None, None, None)
        r = c.last_result
        routed = (
            np.bincount(r.exit[r.exit >= 0], minlength=len(r.providers))
            if r is not None
            else np.zeros(len(c.provider_names), dtype=np.int64)
        )
        out = []
        for p in c.providers:
            rtt = loss = None
            healthy = True
            if meas is not None and len(meas.prefixes):
                col = meas.providers.index(p.name)
                rtts = meas.rtt_median_ms[:, col]
                losses = meas.loss[:, col]
                if np.isfinite(rtts).any():
                    rtt = _num(np.nanmedian(rtts))
                if np.isfinite(losses).any():
                    loss = _num(np.nanmean(losses))
                healthy = meas.provider_healthy.get(p.name, True)
            rate = traffic.provider_bps.get(p.name, 0.0) if traffic else 0.0
            samples = traffic.provider_5m_samples.get(p.name, ()) if traffic else ()
            p95 = float(np.percentile(samples, 95)) if samples else rate
            session_up = bool(routes.provider_up.get(p.name, False)) if routes else False
            out.append(
                {
                    "name": p.name,
                    "asn": p.asn,
                    "session_up": session_up,
                    "healthy": bool(healthy),
                    "rtt_ms": rtt,
                    "loss": loss,
                    "rate_bps": rate,
                    "capacity_bps": p.capacity_mbps * 1e6,
                    "utilization": rate / (p.capacity_mbps * 1e6),
                    "commit_bps": p.commit_mbps * 1e6,
                    "p95_bps": p95,
                    "cost_per_mbps": p.cost_per_mbps,
                    "prefixes_routed": int(routed[c.provider_names.index(p.name)]),
                    "exchange": p.exchange,
                }
            )
        return out

    def billing(self, series: bool = False) -> dict:
        return _clean(billing_view(self.c, series=series))

    def _row(self, i: int) -> dict:
        """Row ``i`` of the last decision round, as the API's prefix summary."""
        c, r = self.c, self.c.last_result
        assert r is not None, "callers found row i in the last round"
        p, e, d = r.prefixes[i], int(r.exit[i]), int(r.default[i])
        active = r.state.active
        return {
            "prefix": p,
            "traffic_bps": float(r.traffic_bps[i]),
            "exit": r.providers[e] if e >= 0 else None,
            "default": r.providers[d] if d >= 0 else None,
            "reason": Reason(int(r.reason[i])).label,
            "since": active[p].since if p in active else r.state.last_move.get(p),
            "pinned": c.operator.pins.get(p),
            "excluded": p in c.operator.exclusions,
        }

    def _index(self, prefix: str) -> int | None:
        r = self.c.last_result
        if r is None:
            return None
        try:
            return r.prefixes.index(prefix)
        except ValueError:
            return None

    def prefixes(self, top: int = 100) -> list[dict]:
        r = self.c.last_result
        if r is None or top <= 0:
            return []
        order = np.argsort(-r.traffic_bps, kind="stable")[:top]
        return [self._row(int(i)) for i in order]

    def prefix(self, prefix: str) -> dict:
        key = self._prefix_key(prefix)
        i = self._index(key)
        if i is None:
            raise ActionError(
                f"unknown prefix {key}: not among the prefixes routepilot tracks", 404
            )
        row = self._row(i)
        result, inputs = self.c.last_result, self.c.last_inputs
        assert result is not None and inputs is not None, "the last round holds the prefix"
        traffic, routes, meas = inputs
        measurements = []
        ti = traffic.prefixes.index(key) if key in traffic.prefixes else None
        mi = meas.prefixes.index(key) if key in meas.prefixes else None
        found = int(routes.lookup().rows([key])[0])  # not a scan of a full table
        ri = found if found >= 0 else None
        for name in self.c.provider_names:
            m = {"provider": name, "has_route": False, "as_path_len": None}
            if ri is not None:
                k = routes.providers.index(name)
                m["has_route"] = bool(routes.has_route[ri, k])
                m["as_path_len"] = (
                    int(routes.as_path_len[ri, k]) if routes.has_route[ri, k] else None
                )
            if mi is not None:
                k = meas.providers.index(name)
                m.update(
                    {
                        "rtt_ms": _num(meas.rtt_median_ms[mi, k]),
                        "rtt_p90_ms": _num(meas.rtt_p90_ms[mi, k]),
                        "loss": _num(meas.loss[mi, k]),
                        "loss_low": _num(meas.loss_low[mi, k]),
                        "loss_high": _num(meas.loss_high[mi, k]),
                        "jitter_ms": _num(meas.jitter_ms[mi, k]),
                        "samples": int(meas.samples[mi, k]),
                        "consecutive_losses": int(meas.consecutive_losses[mi, k]),
                    }
                )
            else:
                m.update(
                    {
                        "rtt_ms": None,
                        "rtt_p90_ms": None,
                        "loss": None,
                        "loss_low": None,
                        "loss_high": None,
                        "jitter_ms": None,
                        "samples": 0,
                        "consecutive_losses": 0,
                    }
                )
            m["traffic_bps"] = 0.0
            if ti is not None and name in traffic.providers:
                m["traffic_bps"] = float(traffic.bps[ti, traffic.providers.index(name)])
            measurements.append(m)
        explanation = {
            **result.explain(key).as_dict(),
            "dry_run": self.c.injector.dry_run,
            # The AS an as_incident exit avoids, for the sentence (the journal keeps it too).
            "incident_asn": result.incident_asn.get(key),
        }
        hints = [
            {k: v for k, v in asdict(h).items() if k != "prefix"}
            for h in self.c.pipeline.hints.active(self.c.clock())
            if h.prefix == key
        ]
        return {
            **row,
            "measurements": measurements,
            "explanation": explanation,
            "policy": result.constraint(key),
            "syn_hints": hints,
            "confirming": key in meas.confirming,
        }

    def decisions(
        self,
        since: float | None = None,
        until: float | None = None,
        prefix: str | None = None,
        provider: str | None = None,
        reason: str | None = None,
        limit: int = 200,
    ) -> list[dict]:
        q = Query(
            since=since,
            until=until,
            prefix=self._prefix_key(prefix) if prefix else None,
            provider=provider,
            reason=reason,
            limit=limit,
        )
        # The journal entries carry the contract's fields, plus the re-measurement
        # after the move (after_time, after_rtt_ms, after_loss), which the API leaves out.
        return [e.as_dict() for e in self.store.decisions(q)]

    def measurements(self, q: SeriesQuery) -> list[dict]:
        """Probe results per ``step``: one prefix's paths, or (no prefix) each provider
        over all its prefixes, aggregated by the store."""
        points = self.store.probe_series(
            Query(
                since=q.since,
                until=q.until,
                prefix=self._prefix_key(q.prefix) if q.prefix else None,
                provider=q.provider,
            ),
            max(self._rollup_s(), q.step_s),
        )
        stored = [
            {
                "time": p.time,
                "prefix": p.prefix,
                "provider": p.provider,
                "rtt_ms": _num(p.rtt_ms),
                "rtt_p90_ms": _num(p.rtt_p90_ms),
                "loss": _num(p.loss),
                "samples": p.sent,
            }
            for p in points
        ]
        if self.c.prober is None:
            return stored
        # The minute in progress, which the store gets only when it ends.
        last = {str(p["provider"]): float(p["time"] or 0.0) for p in stored}
        prefix = self._prefix_key(q.prefix) if q.prefix else None
        live = minute_points(
            self.c.prober.minute_so_far(prefix), prefix, q.provider, last, q.until,
            max(self._rollup_s(), q.step_s),
        )  # fmt: skip
        return stored + live

    def utilization(self, q: SeriesQuery) -> list[dict]:
        rows = self.store.utilization(Query(since=q.since, until=q.until, provider=q.provider))
        return [
            {
                "time": r.time,
                "provider": r.provider,
                "rate_bps": r.rate_bps,
                "capacity_bps": r.capacity_bps,
                "commit_bps": r.commit_bps,
            }
            for r in rows
        ]

    def config(self) -> dict:
        """The effective configuration: the file's, with what changed at run time (dry-run)
        and with tokens masked."""
        data = copy.deepcopy(self._settings)
        data.setdefault("inject", {})["dry_run"] = self.c.injector.dry_run
        api = data.get("api", {})
        for key in list(api):
            if "token" in key and api[key]:
                api[key] = "***"
        return data

    def ha(self) -> dict:
        if self.c.leadership is None:
            return {"enabled": False, "node": socket.gethostname(), "role": "active",
                    "epoch": 0, "active": None, "lease_until": None, "since": self.c.started,
                    "transitions": 0, "peers": []}  # fmt: skip
        last = self.c.takeovers[-1] if self.c.takeovers else None
        return {**self.c.leadership.status(), "last_takeover": last}

    # -- actions --------------------------------------------------------------------------

    def _record(self, key: str) -> dict:
        i = self._index(key)
        if i is not None:
            return self._row(i)
        return {
            "prefix": key,
            "traffic_bps": 0.0,
            "exit": None,
            "default": None,
            "reason": "default",
            "since": None,
            "pinned": self.c.operator.pins.get(key),
            "excluded": key in self.c.operator.exclusions,
        }

    def routers(self) -> list[dict]:
        c = self.c
        summary = c.rib.router_summary()
        configured = {r["name"]: r for r in self._settings.get("routers", [])}
        compared = c.bmp.compare() if c.bmp is not None else {}
        out = []
        for name in c.routers:
            s = summary.get(name, {"session_up": False, "synced": False, "paths": 0})
            r = configured.get(name, {})
            out.append(
                {
                    "name": name,
                    "address": r.get("address"),
                    "asn": r.get("asn"),
                    "session": "established" if s["session_up"] else "down",
                    "route_source": r.get("route_source", "addpath"),
                    "synced": s["synced"],
                    "paths": s["paths"],
                    "providers": s.get("providers", {}),
                    "routes_announced": (
                        c.injector.announced_count(name)
                        if s["session_up"] and not c.injector.dry_run
                        else 0
                    ),
                    "bmp_providers": compared[name]["bmp"] if name in compared else None,
                    "bmp_agrees": compared[name]["agree"] if name in compared else None,
                }
            )
        return out

    def routes(self, prefix: str) -> dict:
        key = self._prefix_key(prefix)
        rib, injector = self.c.rib, self.c.injector
        matched = rib.covering(key)
        if matched is None:
            raise ActionError(f"no route for {key}: no learned prefix covers it", 404)
        route = injector.announced.get(matched)
        injected = None
        if route is not None:
            injected = {
                "provider": injector.provider_of_next_hop(route.next_hop),
                "next_hop": route.next_hop,
                "local_pref": route.local_pref,
                "communities": list(route.communities),
            }
        return {
            "query": key,
            "prefix": matched,
            "bgp_choice": rib.bgp_choice(matched),
            "paths": rib.paths(matched),
            "injected": injected,
            "dry_run": injector.dry_run,
        }

    def pin(self, prefix: str, provider: str) -> dict:
        self._provider(provider)
        key = self._prefix_key(prefix)
        self.c.pin(key, provider)
        return self._record(key)

    def unpin(self, prefix: str) -> dict:
        key = self._prefix_key(prefix)
        self.c.unpin(key)
        return self._record(key)

    def exclude(self, prefix: str) -> dict:
        key = self._prefix_key(prefix)
        self.c.exclude(key)
        return self._record(key)

    def include(self, prefix: str) -> dict:
        key = self._prefix_key(prefix)
        self.c.include(key)
        return self._record(key)

    def pause(self) -> dict:
        self.c.set_paused(True)
        return self.status()

    def resume(self) -> dict:
        self.c.set_paused(False)
        return self.status()

    def set_dry_run(self, on: bool) -> dict:
        self._run(self.c.set_dry_run(on))
        return {**self.status(), "dry_run": on}

    # -- maintenance windows, the control journal, reloads ---------------------------------

    def maintenance(self) -> list[dict]:
        return self.c.maintenance.list()

    async def maintenance_start(
        self,
        provider: str,
        duration_s: float | None = None,
        until: float | None = None,
        drain: bool = False,
        reason: str = "",
    ) -> dict:
        return await self.c.maintenance.start(
            provider, duration_s=duration_s, until=until, drain=drain, reason=reason
        )

    async def maintenance_end(self, window_id: int) -> dict:
        return await self.c.maintenance.end(window_id)

    def events(
        self, since: float | None = None, until: float | None = None, limit: int = 200
    ) -> list[dict]:
        rows = self.store.events(Query(since=since, until=until, limit=limit))
        return [{"id": e.id, "time": e.time, "kind": e.kind, "detail": e.detail} for e in rows]

    def traces(self, prefix: str, provider: str | None = None) -> list[dict]:
        key = self._prefix_key(prefix)
        if provider is not None:
            self._provider(provider)
        if self.diagnosis is None:
            return []
        return self.diagnosis.traces(key, provider)

    def incidents(self, state: str = "all", limit: int = 200) -> list[dict]:
        if self.diagnosis is not None and not self.c.standby:
            rows = self.diagnosis.incidents(include_closed=state != "open")
        else:
            rows = self.store.incidents(None, limit)
            rows = sorted(rows, key=lambda r: (r.get("closed") is not None, -int(r["id"])))
            if state == "open":
                rows = [r for r in rows if r.get("closed") is None]
        return rows[:limit]

    async def reload(self) -> dict:
        return await self._apply(lambda r: r.reload_file("api"))

    async def put_config(self, data: dict) -> dict:
        return await self._apply(lambda r: r.apply_data(data, "api"))

    async def _apply(self, call: Any) -> dict:
        if self._reloader is None:
            raise ActionError("this controller cannot reload its configuration", 409)
        try:
            return await call(self._reloader)
        except ReloadRefused as exc:
            raise ActionError(str(exc), exc.status) from None
