"""The routepilot configuration that matches a lab: what `routepilot run` uses in `ctl`."""

from __future__ import annotations

from routepilot.config import Config
from routepilot.lab.spec import CTL_LINK, EDGE_ASN, LabSpec, edge_link, probe_source


def controller_config(spec: LabSpec, ifindexes: dict[str, int], store_path: str) -> Config:
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
            "prefixes": spec.prefixes_v4_list() + spec.prefixes_v6_list(),
            "store": {"path": store_path},
        }
    )
