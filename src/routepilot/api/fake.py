"""An in-memory ControllerView with consistent made-up data, for the surfaces' tests.

Deterministic: the same seed gives the same providers, prefixes, measurements
and journal, so tests can assert on what a user would see.
"""

from __future__ import annotations

import ipaddress
import random

from routepilot.api.view import ActionError, SeriesQuery
from routepilot.view_rows import decision_row, provider_row, select_decisions, utilization_row

_REASONS = ("latency", "loss", "outage", "capacity", "revert")


class FakeView:
    """Three providers, ``n_prefixes`` busy prefixes, a journal of moves over the last hour."""

    def __init__(self, now: float = 1_800_000_000.0, n_prefixes: int = 20, seed: int = 1) -> None:
        rnd = random.Random(seed)
        self.now = now
        self.started = now - 3600
        self.paused = False
        self.dry_run = False
        self.confirming: set[str] = set()
        self.trace_rows: list[dict] = []
        """What ``traces`` serves, as the view's contract shapes it."""
        """Prefixes whose paths are being re-measured with longer trains."""
        self.ha_state: dict | None = None
        self._providers = [
            provider_row("isp1", 65001, 100e6, 50e6, 1.0),
            provider_row("isp2", 65002, 100e6, 50e6, 0.8),
            provider_row("isp3", 65003, 50e6, 0.0, 2.0),
        ]
        names = [p["name"] for p in self._providers]
        self._prefixes: dict[str, dict] = {}
        for k in range(n_prefixes):
            prefix = f"198.18.{k}.0/24"
            default = names[k % 3]
            traffic = 20e6 / (k + 1) ** 1.1
            meas = []
            for j, name in enumerate(names):
                rtt = 10.0 + 5 * j + rnd.random() * 2 + (40.0 if name == default and k < 4 else 0)
                loss = 0.05 if (name == default and k in (4, 5)) else 0.0
                meas.append(
                    {
                        "provider": name,
                        "has_route": True,
                        "as_path_len": 1 + (j + k) % 3,
                        "rtt_ms": round(rtt, 2),
                        "rtt_p90_ms": round(rtt * 1.1, 2),
                        "loss": loss,
                        "loss_low": max(0.0, loss - 0.02),
                        "loss_high": loss + 0.03,
                        "jitter_ms": 0.3,
                        "samples": 120,
                        "consecutive_losses": 0,
                    }
                )
            best = min(meas, key=lambda m: (m["loss"], m["rtt_ms"]))["provider"]
            moved = k < 6 and best != default
            exit_name = best if moved else default
            for m in meas:
                m["traffic_bps"] = round(traffic) if m["provider"] == exit_name else 0.0
            self._prefixes[prefix] = {
                "prefix": prefix,
                "traffic_bps": round(traffic),
                "exit": best if moved else default,
                "default": default,
                "reason": ("latency" if k < 4 else "loss") if moved else "default",
                "since": now - 600 + k if moved else None,
                "pinned": None,
                "excluded": False,
                "measurements": meas,
            }
        self._journal = []
        self._windows: list[dict] = []
        self._events: list[dict] = []
        self.incident_rows: list[dict] = []
        """What ``incidents()`` serves (tests append ``Incident.as_dict()`` rows)."""
        for i in range(30):
            prefix = f"198.18.{i % n_prefixes}.0/24"
            p = self._prefixes[prefix]
            to = names[(i + 1) % 3]
            self._journal.append(
                decision_row(
                    now - 3600 + i * 120,
                    prefix,
                    (p["default"], to),
                    p["default"],
                    _REASONS[i % len(_REASONS)],
                    p["traffic_bps"],
                    (50.0, 0.0),
                    (12.0, 0.0),
                )
            )
        self._journal.reverse()

    # -- reads ------------------------------------------------------------------

    def status(self) -> dict:
        return {
            "version": "0.1.0",
            "started": self.started,
            "now": self.now,
            "paused": self.paused,
            "dry_run": self.dry_run,
            "cycle": {"count": 720, "last": self.now - 2, "duration_ms": 12.5},
            "sessions": {"edge": "established"},
            "degraded": [],
            "counts": {
                "prefixes": len(self._prefixes),
                "active_improvements": sum(
                    p["exit"] != p["default"] for p in self._prefixes.values()
                ),
                "moves_last_hour": len(self._journal),
            },
            "telemetry": {
                "link_source": "flows",
                "time": self.now,
                "providers": {},
                "groups": {},
                "links": [],
                "errors": {},
                "warnings": [],
            },  # fmt: skip
            "routes": {
                "state": "synced",
                "routers": {"edge": "synced"},
                "paths": 12,
                "prefixes": 4,
            },  # fmt: skip
            "ha": self.ha(),
        }

    def providers(self) -> list[dict]:
        out = []
        for p in self._providers:
            routed = [x for x in self._prefixes.values() if x["exit"] == p["name"]]
            rate = sum(x["traffic_bps"] for x in routed)
            rtts = [
                m["rtt_ms"]
                for x in self._prefixes.values()
                for m in x["measurements"]
                if m["provider"] == p["name"]
            ]
            out.append(
                {
                    **{
                        k: p[k]
                        for k in ("name", "asn", "capacity_bps", "commit_bps", "cost_per_mbps")
                    },
                    "session_up": True,
                    "healthy": True,
                    "rtt_ms": sorted(rtts)[len(rtts) // 2],
                    "loss": 0.0,
                    "rate_bps": rate,
                    "utilization": rate / p["capacity_bps"],
                    "p95_bps": rate * 1.1,
                    "prefixes_routed": len(routed),
                    "exchange": p.get("exchange"),
                }
            )
        return out

    def _record(self, p: dict) -> dict:
        return {k: v for k, v in p.items() if k != "measurements"}

    def prefixes(self, top: int = 100) -> list[dict]:
        rows = sorted(self._prefixes.values(), key=lambda p: -p["traffic_bps"])
        return [self._record(p) for p in rows[:top]]

    def _get(self, prefix: str) -> dict:
        try:
            key = str(ipaddress.ip_network(prefix, strict=False))
        except ValueError:
            raise ActionError(f"bad prefix {prefix!r}", 400) from None
        if key not in self._prefixes:
            raise ActionError(f"unknown prefix {key}", 404)
        return self._prefixes[key]

    def prefix(self, prefix: str) -> dict:
        p = self._get(prefix)
        last = next((d for d in self._journal if d["prefix"] == p["prefix"]), None)
        return {
            **self._record(p),
            "measurements": p["measurements"],
            "explanation": last,
            "confirming": p["prefix"] in self.confirming,
        }

    def routers(self) -> list[dict]:
        names = [row["name"] for row in self._providers]
        per = {n: sum(1 for p in self._prefixes.values() for m in p["measurements"]
                      if m["provider"] == n and m["has_route"]) for n in names}  # fmt: skip
        moved = sum(1 for p in self._prefixes.values() if p["exit"] != p["default"])
        return [
            {
                "name": "edge",
                "address": "100.64.0.1",
                "asn": 64512,
                "session": "established",
                "route_source": "addpath",
                "synced": True,
                "paths": sum(per.values()),
                "providers": per,
                "routes_announced": 0 if self.dry_run else moved,
            }
        ]

    def routes(self, prefix: str) -> dict:
        try:
            query = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            raise ActionError(f"bad prefix {prefix!r}", 400) from None
        covering = [
            ipaddress.ip_network(k)
            for k in self._prefixes
            if ipaddress.ip_network(k).version == query.version
            and query.subnet_of(ipaddress.ip_network(k))  # type: ignore[arg-type]
        ]
        if not covering:
            raise ActionError(f"no route for {query}: no learned prefix covers it", 404)
        p = self._prefixes[str(max(covering, key=lambda n: n.prefixlen))]
        asns = {row["name"]: row["asn"] for row in self._providers}
        paths = [
            {
                "router": "edge",
                "path_id": j + 1,
                "provider": m["provider"],
                "own": False,
                "next_hop": f"100.64.{j + 1}.2",
                "as_path": [asns[m["provider"]]] * m["as_path_len"],
                "origin": 0,
                "med": None,
                "local_pref": 100,
                "communities": [],
                "best": m["provider"] == p["default"],
            }
            for j, m in enumerate(p["measurements"])
        ]
        moved = p["exit"] != p["default"]
        names = [row["name"] for row in self._providers]
        return {
            "query": str(query),
            "prefix": p["prefix"],
            "bgp_choice": p["default"],
            "paths": paths,
            "injected": {
                "provider": p["exit"],
                "next_hop": f"100.64.{names.index(p['exit']) + 1}.2",
                "local_pref": 200,
                "communities": ["65535:65281"],
            }
            if moved and not self.dry_run
            else None,
            "dry_run": self.dry_run,
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
        return select_decisions(self._journal, since, until, prefix, provider, reason, limit)

    def measurements(self, q: SeriesQuery) -> list[dict]:
        out = []
        t = q.since - q.since % q.step_s
        while t <= q.until:
            for p in self._providers:
                if q.provider and p["name"] != q.provider:
                    continue
                base = 10.0 + 5 * self._providers.index(p)
                out.append(
                    {
                        "time": t,
                        "prefix": q.prefix,
                        "provider": p["name"],
                        "rtt_ms": base + (t % 600) / 100,
                        "rtt_p90_ms": base * 1.2,
                        "loss": 0.0,
                        "samples": 60,
                    }
                )
            t += q.step_s
        return out

    def utilization(self, q: SeriesQuery) -> list[dict]:
        out = []
        t = q.since - q.since % q.step_s
        while t <= q.until:
            for p in self.providers():
                if q.provider and p["name"] != q.provider:
                    continue
                out.append(utilization_row(t, p, p["rate_bps"]))
            t += q.step_s
        return out

    def billing(self, series: bool = False) -> dict:
        """A 10-day-old period of 5-minute samples: isp1 bursts over its commit each evening."""
        n = 2880
        start = self.now - n * 300
        out = []
        for k, p in enumerate(self._providers):
            commit, price = p["commit_bps"], p["cost_per_mbps"]
            samples = [
                (0.5 + 0.4 * k)
                * 40e6
                * (1.4 if (i // 12) % 24 in (19, 20) else 0.7 + 0.01 * (i % 7))
                for i in range(n)
            ]
            ordered = sorted(samples)
            current = ordered[max(1, -(-95 * n // 100)) - 1]
            e = {
                "name": p["name"], "kind": "provider", "mode": "greater",
                "period_start": start, "period_end": start + 8640 * 300, "slots": 8640,
                "samples": n, "current_bps": current, "projected_bps": current,
                "projected_without_bps": current * 1.1, "commit_bps": commit,
                "level_bps": commit * 0.97 if commit else None, "burst_free": 432,
                "over_commit": sum(1 for x in samples if commit and x > commit),
                "price_per_mbps": price,
            }  # fmt: skip
            e["burst_left"] = max(0, 432 - e["over_commit"]) if commit else 432
            c1 = max(0.0, current - commit) / 1e6 * price
            c2 = max(0.0, current * 1.1 - commit) / 1e6 * price
            e.update(
                cost=c1, cost_projected=c1, cost_projected_without=c2, saving_projected=c2 - c1
            )
            if series:
                e["series"] = [
                    {"start": start + i * 300, "in_bps": x / 4, "out_bps": x, "billable_bps": x}
                    for i, x in enumerate(samples)
                ]
            out.append(e)
        return {"source": "snmp", "time": self.now, "sample_s": 300.0, "percentile": 95.0,
                "providers": out, "groups": []}  # fmt: skip

    def config(self) -> dict:
        return {
            "providers": [{"name": p["name"], "asn": p["asn"]} for p in self._providers],
            "api": {"write_token": "***", "read_token": None},
        }

    # -- actions ----------------------------------------------------------------

    def _provider(self, name: str) -> None:
        if name not in {p["name"] for p in self._providers}:
            raise ActionError(f"unknown provider {name!r}", 404)

    def pin(self, prefix: str, provider: str) -> dict:
        self._provider(provider)
        p = self._get(prefix)
        p.update(pinned=provider, exit=provider, reason="pinned")
        return self._record(p)

    def unpin(self, prefix: str) -> dict:
        p = self._get(prefix)
        p.update(pinned=None, exit=p["default"], reason="default")
        return self._record(p)

    def exclude(self, prefix: str) -> dict:
        p = self._get(prefix)
        p.update(excluded=True, exit=p["default"], reason="excluded")
        return self._record(p)

    def include(self, prefix: str) -> dict:
        p = self._get(prefix)
        p.update(excluded=False, reason="default")
        return self._record(p)

    def pause(self) -> dict:
        self.paused = True
        return self.status()

    def resume(self) -> dict:
        self.paused = False
        return self.status()

    def ha(self) -> dict:
        """``ha_state`` (a test sets it to play a standby), else a lone active."""
        return self.ha_state or {
            "enabled": False, "node": "fake", "role": "active", "epoch": 0, "active": None,
            "lease_until": None, "since": self.started, "transitions": 0, "peers": [],
        }  # fmt: skip

    def set_dry_run(self, on: bool) -> dict:
        self.dry_run = on
        return self.status()

    # -- maintenance windows, the control journal, reloads ------------------------------

    def maintenance(self) -> list[dict]:
        return [dict(w, state="active" if w["end"] > self.now else "ended")
                for w in self._windows]  # fmt: skip

    def _event(self, kind: str, detail: str) -> None:
        self._events.append(
            {"id": len(self._events) + 1, "time": self.now, "kind": kind, "detail": detail}
        )

    async def maintenance_start(
        self,
        provider: str,
        duration_s: float | None = None,
        until: float | None = None,
        drain: bool = False,
        reason: str = "",
    ) -> dict:
        self._provider(provider)
        if (duration_s is None) == (until is None):
            raise ActionError("give either duration_s or until", 400)
        end = self.now + duration_s if duration_s is not None else float(until or 0.0)
        if end <= self.now:
            raise ActionError("the window must end in the future", 400)
        w = {"id": len(self._windows) + 1, "name": None, "provider": provider,
             "start": self.now, "end": end, "drain": drain, "reason": reason,
             "state": "active", "source": "api", "cron": None}  # fmt: skip
        self._windows.append(w)
        self._event("maintenance_start", f"window {w['id']} on {provider}")
        return dict(w)

    async def maintenance_end(self, window_id: int) -> dict:
        for w in self._windows:
            if w["id"] == window_id:
                w["end"] = min(w["end"], self.now)
                self._event("maintenance_end", f"window {window_id} ended")
                return dict(w, state="ended")
        raise ActionError(f"no maintenance window {window_id}", 404)

    def traces(self, prefix: str, provider: str | None = None) -> list[dict]:
        key = self._get(prefix)["prefix"]
        if provider is not None and provider not in {p["name"] for p in self._providers}:
            raise ActionError(f"unknown provider {provider!r}", 404)
        rows = [t for t in self.trace_rows if t["prefix"] == key]
        rows = [t for t in rows if provider is None or t["provider"] == provider]
        return sorted(rows, key=lambda t: -t["time"])

    def incidents(self, state: str = "all", limit: int = 200) -> list[dict]:
        rows = sorted(self.incident_rows, key=lambda r: (r["closed"] is not None, -r["id"]))
        if state == "open":
            rows = [r for r in rows if r["closed"] is None]
        return rows[:limit]

    def events(
        self, since: float | None = None, until: float | None = None, limit: int = 200
    ) -> list[dict]:
        rows = [
            e for e in reversed(self._events)
            if (since is None or e["time"] >= since) and (until is None or e["time"] < until)
        ]  # fmt: skip
        return rows[:limit]

    async def reload(self) -> dict:
        self._event("config_applied", "file: nothing changed")
        return {"applied": True, "changed": [], "source": "file", "time": self.now}

    async def put_config(self, data: dict) -> dict:
        from routepilot.config import Config, ConfigError
        from routepilot.config.load import validate

        try:
            validate(data, Config, "request body")
        except ConfigError as exc:
            self._event("config_refused", str(exc))
            raise ActionError(str(exc), 400) from None
        self._event("config_applied", "api")
        return {"applied": True, "changed": [], "source": "api", "time": self.now}
