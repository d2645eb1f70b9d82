"""The routepilot configuration that matches a lab: what `routepilot run` uses in `ctl`.

Timings are the lab's, not production's: probes every half second with short
timeouts and a 30 s hold-down, so that the scenarios of the demo and the tests
play out in minutes. Injection is live (the lab is there to be steered).
"""

from __future__ import annotations

from routepilot.config import Config
from routepilot.lab.spec import (
    CTL_LINK,
    DEST_V4,
    DEST_V6,
    EDGE_ASN,
    LabSpec,
    edge_link,
    probe_source,
)
from routepilot.lab.traffic import hosts


def controller_config(
    spec: LabSpec, ifindexes: dict[str, int], store_path: str, api_port: int = 8080
) -> Config:
    """Builds the controller config: edge as router, every provider with its next-hops,
    probe sources and the exporter interface (edge's ctl-facing address, ifindex)."""
    providers = []
    for i, p in enumerate(spec.providers, start=1):
        _, p4, _, p6 = edge_link(i)
        s4, s6 = probe_source(i)
        providers.append(
            {
                "name": p.name,
                "asn": p.asn,
                "next_hops": [p4, p6],
                "capacity_mbps": p.capacity_mbps,
                "probe": {"source": s4, "source6": s6},
                "flow_interfaces": [{"exporter": CTL_LINK[0], "ifindex": ifindexes[p.name]}],
            }
        )
    prefixes = spec.prefixes_v4_list() + spec.prefixes_v6_list()
    # Fallback targets: the addresses the lab's traffic goes to (every address
    # answers in the lab; in production they are learned from flows).
    targets = [h for prefix in prefixes for h in hosts(prefix, spec.traffic.hosts_per_prefix)[:2]]
    return Config.model_validate(
        {
            "routers": [
                {
                    "name": "edge",
                    "address": CTL_LINK[0],
                    "asn": EDGE_ASN,
                    "local_address": CTL_LINK[1],
                }
            ],
            "providers": providers,
            "prefixes": prefixes,
            "flows": {
                "listen_address": "::",
                "netflow_port": spec.export.port,
                "window_s": 5.0,
                "smoothing_s": 15.0,
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
            "store": {"path": store_path},
            "api": {"listen": "127.0.0.1", "port": api_port, "write_token": "lab"},
            "controller": {"cycle_s": 2.0, "startup_grace_s": 3.0},
        }
    )
