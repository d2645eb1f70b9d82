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
        return {**self._record(p), "measurements": p["measurements"], "explanation": last}

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

    def set_dry_run(self, on: bool) -> dict:
        self.dry_run = on
        return self.status()
