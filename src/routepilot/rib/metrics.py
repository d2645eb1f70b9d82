"""Counters of rib/ and of its BGP speaker, exposed through the daemon's registry.

Plain integers bumped on each event; ``collect()`` turns them into metric
families, with HELP and TYPE, when the registry is scraped (``routepilot.metrics``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from routepilot.metrics import Metric, StageMetrics, counter, gauge


@dataclass
class RibMetrics(StageMetrics):
    updates_received: int = 0
    paths_received: int = 0
    withdrawals_received: int = 0
    malformed_updates: int = 0
    unknown_next_hop_paths: int = 0
    own_paths_ignored: int = 0
    unknown_router_events: int = 0
    session_ups: int = 0
    session_downs: int = 0
    end_of_rib: int = 0
    speaker_restarts: int = 0
    prefixes: int = 0
    paths: int = 0
    paths_dropped: dict[str, int] = field(default_factory=dict)
    """New paths the RIB did not take, by the limit they would have passed."""

    def collect(self) -> Iterator[Metric]:
        for name, value, help_text in (
            ("updates_received", self.updates_received, "BGP UPDATE messages received."),
            ("paths_received", self.paths_received, "Paths (NLRI) announced to the RIB."),
            ("withdrawals_received", self.withdrawals_received, "Paths withdrawn."),
            ("malformed_updates", self.malformed_updates, "UPDATEs the RIB could not use."),
            (
                "unknown_next_hop_paths",
                self.unknown_next_hop_paths,
                "Paths whose next-hop belongs to no configured provider.",
            ),
            (
                "own_paths_ignored",
                self.own_paths_ignored,
                "Paths routepilot announced itself, reflected back and ignored.",
            ),
            (
                "unknown_router_events",
                self.unknown_router_events,
                "Speaker events naming a router that is not configured.",
            ),
            ("session_ups", self.session_ups, "iBGP sessions that came up."),
            ("session_downs", self.session_downs, "iBGP sessions that went down."),
            ("end_of_rib", self.end_of_rib, "End-of-RIB markers received."),
            (
                "speaker_restarts_seen",
                self.speaker_restarts,
                "Speaker restarts the RIB saw (its routes were flushed and relearned).",
            ),
        ):
            yield counter(f"routepilot_bgp_{name}_total", help_text, value)
        yield counter(
            "routepilot_rib_paths_dropped_total",
            "New paths not taken because a limit was reached (prefix_limit, "
            "prefix_path_limit, router_path_limit).",
            labels=("reason",),
            values=self.paths_dropped,
        )
        yield gauge("routepilot_rib_prefixes", "Prefixes in the RIB now.", self.prefixes)
        yield gauge("routepilot_rib_paths", "Paths in the RIB now.", self.paths)


@dataclass
class SpeakerMetrics(StageMetrics):
    """Counters of the speaker adapter (``rib/speaker/``)."""

    restarts: int = 0
    hangs: int = 0
    commands: int = 0
    routes_announced: int = 0
    routes_withdrawn: int = 0
    events: int = 0
    decode_errors: int = 0
    tcp_md5_drops: dict[str, int] = field(default_factory=dict)
    """Segments dropped for a missing, unexpected or wrong TCP-MD5 digest in the speaker's
    network namespace (read from the kernel when a session has a password)."""

    def collect(self) -> Iterator[Metric]:
        for name, value, help_text in (
            ("restarts", self.restarts, "Times the BGP speaker process was (re)started."),
            ("hangs", self.hangs, "Times the BGP speaker stopped answering and was killed."),
            ("commands", self.commands, "Commands written to the BGP speaker."),
            ("routes_announced", self.routes_announced, "Routes handed to the speaker."),
            ("routes_withdrawn", self.routes_withdrawn, "Withdrawals handed to the speaker."),
            ("events", self.events, "Events the speaker delivered (updates, sessions, EoR)."),
            ("decode_errors", self.decode_errors, "Speaker messages that could not be decoded."),
        ):
            yield counter(f"routepilot_bgp_speaker_{name}_total", help_text, value)
        yield counter(
            "routepilot_bgp_tcp_md5_drops_total",
            "Segments the kernel of the speaker's network namespace dropped for a missing "
            "(not_found), unexpected or wrong (failure) TCP-MD5 digest, all sockets of that "
            "namespace together; read only when a session has a password.",
            labels=("reason",),
            values={(k,): v for k, v in self.tcp_md5_drops.items()},
        )
