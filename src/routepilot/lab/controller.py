"""The routepilot configuration that matches a lab: what `routepilot run` uses in `ctl`.

Timings are the lab's, not production's: probes every half second with short
timeouts and a 30 s hold-down, so that the scenarios of the demo and the tests
play out in minutes. Injection is live (the lab is there to be steered).
"""

from __future__ import annotations

from typing import Any

from routepilot.config import Config
from routepilot.lab import edges, exporters, ix
from routepilot.lab.spec import (
    DEST_V4,
    DEST_V6,
    EDGE_ASN,
    LabSpec,
    controller_link,
    probe_source,
)
from routepilot.lab.traffic import hosts

HA_TIMINGS = {"lease_s": 5.0, "renew_s": 1.0, "margin_s": 2.0}
"""The HA lab's lease: a dead active is replaced within about 5 s plus one renewal."""


def controller_config(
    spec: LabSpec,
    ifindexes: dict[str, int],
    store_path: str,
    api_port: int = 8080,
    snmp_community_file: str | None = None,
    node: str = "ctl",
    database: dict[str, Any] | None = None,
    edge2_ifindexes: dict[str, int] | None = None,
) -> Config:
    """Builds the config of the controller in ``node``: edge as router, every provider with
    its next-hops, probe sources and the exporter interface (edge's address toward that
    node, ifindex). ``database``: the PostgreSQL store's settings, for the HA pair (its
    lease in ``ha``); None: SQLite at ``store_path``. With ``spec.snmp``, SNMP telemetry of
    edge's provider interfaces (the community read from ``snmp_community_file``)."""
    edge4, own4, _, _ = controller_link(node)
    if spec.edges > 1 and edge2_ifindexes is None:
        edge2_ifindexes = exporters.ifindexes(spec, "edge2")
    providers = []
    for i, p in enumerate(spec.providers, start=1):
        s4, s6 = probe_source(i, node)
        providers.append(
            {
                "name": p.name,
                "asn": p.asn,
                "next_hops": edges.next_hops(spec, i),
                "capacity_mbps": p.capacity_mbps,
                "probe": {"source": s4, "source6": s6},
                "flow_interfaces": edges.flow_interfaces(
                    spec, p.name, edge4, ifindexes, edge2_ifindexes or {}
                ),
            }
        )
    providers += ix.controller_providers(spec, edge4, ifindexes)
    prefixes = spec.prefixes_v4_list() + spec.prefixes_v6_list()
    # Fallback targets: the addresses the lab's traffic goes to (every address
    # answers in the lab; in production they are learned from flows).
    targets = [h for prefix in prefixes for h in hosts(prefix, spec.traffic.hosts_per_prefix)[:2]]
    extra: dict[str, Any] = {}
    if database is not None:
        extra["ha"] = {
            "enabled": True,
            "node": node,
            "api_url": f"http://127.0.0.1:{api_port}",
            **HA_TIMINGS,
        }
    return Config.model_validate(
        {
            "routers": edges.routers(spec, own4)
            or [
                {
                    "name": "edge",
                    "address": edge4,
                    "asn": EDGE_ASN,
                    "local_address": own4,
                    **_route_source(spec),
                }
            ],
            "providers": providers,
            "prefixes": prefixes,
            "flows": {
                "listen_address": "::",
                "netflow_port": spec.export.port,
                "window_s": 5.0,
                "smoothing_s": 15.0,
                "active_timeout_s": float(spec.export.active_timeout_s),
            },
            "probe": {
                "enabled": True,
                "kind": "icmp",
                "interval_s": 0.2,
                "exit_interval_s": 0.25,
                "alternative_interval_s": 0.25,
                "train_size": 4,
                "timeout_s": 0.5,
                "window_s": 10.0,
                "outage_losses": 3,
                "max_rate": 5000,
                "per_target_rate": 100,
                "per_target_burst": 40,
                "targets": targets,
                "allowed_ranges": [str(DEST_V4), str(DEST_V6)],
            },
            "policy": {"hold_down_s": 30.0, "latency_rounds": 3, "revert_rounds": 6},
            "inject": {"dry_run": False},
            "store": {"path": store_path} if database is None else database,
            "api": {"listen": "127.0.0.1", "port": api_port, "write_token": "lab"},
            "controller": {"cycle_s": 2.0, "startup_grace_s": 3.0},
            "telemetry": _telemetry(spec, snmp_community_file, edge4),
            **extra,
        }
    )


def _route_source(spec: LabSpec) -> dict[str, str]:
    """With ``spec.bmp``, edge's paths come from add-path and BMP both: add-path feeds the
    RIB and BMP is compared with it (set ``route_source: bmp`` to steer from BMP alone)."""
    return {"route_source": "both"} if spec.bmp else {}


def _telemetry(spec: LabSpec, community_file: str | None, agent: str) -> dict:
    """Polls edge's snmpd for every provider interface (named after the provider on edge)."""
    if not spec.snmp or community_file is None:
        return {"billing": {"sample_s": spec.billing_sample_s}}
    return {
        "enabled": True,
        "interval_s": 5.0,
        "agents": [
            {"name": "edge", "address": agent, "community_file": community_file,
             "timeout_s": 1.0, "retries": 1}
        ],
        "links": [{"provider": p.name, "agent": "edge", "if_name": p.name} for p in spec.providers],
        "billing": {"sample_s": spec.billing_sample_s},
    }  # fmt: skip
