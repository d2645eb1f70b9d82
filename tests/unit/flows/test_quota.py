"""Hostile input (issue 17): one source can exhaust only its own share of the caches, a
domain that never stored a valid template gives way first, and the allowlist keeps
other sources out before decoding."""

from __future__ import annotations

import numpy as np
from tests import flowenc as encode

from routepilot.flows.config import FlowsConfig
from routepilot.flows.quota import QuotaTable

from .helpers import decoder, ip4, ipfix_template, v4_records

ATTACKER = "198.51.100.66"
JUNK = encode.junk_datagrams(30_000)
"""6,000 distinct domains of each format: more than the default ``max_domains`` (4,096),
which a global-only cache (the collector before issue 17) filled and kept for an hour."""


def _v9_export(source_id: int, dst: str, nbytes: int) -> bytes:
    rec = v4_records([dst], [nbytes])
    sets = [encode.flow_set(0, encode.template_record(256, encode.IPV4_FIELDS)),
            encode.flow_set(256, rec.tobytes())]  # fmt: skip
    return encode.v9_packet(source_id, sets, count=2)


def _ipfix_data(domain: int, dst: str, nbytes: int) -> bytes:
    data = encode.flow_set(256, v4_records([dst], [nbytes]).tobytes())
    return encode.ipfix_message(domain, [data])


def test_the_junk_flood_holds_more_domains_than_a_global_cache():
    """Without caps that bite, the flood makes over max_domains domains of every format:
    enough to fill the global cache that blinded the collector before per-exporter caps."""
    huge = 10**6
    d = decoder(max_domains=huge, max_domains_per_exporter=huge)
    for dg in JUNK:
        d.feed(dg, ATTACKER, 0)
    d.flush()
    default = FlowsConfig().max_domains
    assert len(d.v9.domains) > default
    assert len(d.ipfix.domains) > default
    assert len(d.sflow.agents) > default
    assert len(d.v5.domains) > default


def test_a_junk_flood_from_one_source_leaves_room_for_a_new_exporter():
    d = decoder()
    d.feed(_v9_export(1, "198.18.0.1", 100), "192.0.2.1", 0)
    for dg in JUNK:
        d.feed(dg, ATTACKER, 1)
    d.flush()
    share = FlowsConfig().max_domains_per_exporter
    attacker = d.exporter_ids[ATTACKER]
    assert d.v9.quota.count_of[attacker] == share
    assert d.ipfix.quota.count_of[attacker] == share
    assert d.sflow.quota.count_of[attacker] == share
    assert d.v5.quota.count_of[attacker] == share
    # The exporter that was there keeps its template; a new one decodes completely.
    d.feed(_v9_export(1, "198.18.0.2", 200), "192.0.2.1", 2)
    d.feed(_v9_export(7, "198.18.0.3", 300), "192.0.2.9", 2)
    d.feed(_v9_export(8, "198.18.0.4", 400), "192.0.2.9", 2)
    batch = d.flush()
    assert sorted(batch.bytes.tolist()) == [200, 300, 400]
    assert d.metrics.drops["domain_cache_full"] == 0
    # Evicted junk domains leave no sampler tables behind: a newcomer's rates are kept.
    assert len(d.v9.rates) <= share + 3
    assert (d.exporter_ids["192.0.2.9"], 7) in d.v9.rates


def test_per_exporter_caps_keep_one_source_from_evicting_anothers_templates():
    """Domains past the source's share are its own to lose: another exporter's template
    cache survives however many domains the source invents."""
    d = decoder(max_domains=8, max_domains_per_exporter=4)
    d.feed(encode.ipfix_message(1, [ipfix_template()]), "192.0.2.1", 0)
    for domain in range(100):  # template-less, like junk
        d.feed(encode.ipfix_message(domain, [encode.flow_set(300, b"\1" * 8)]), ATTACKER, 1)
    assert len(d.ipfix.domains) == 5
    assert d.metrics.drops["domain_evicted"] == 96
    d.feed(_ipfix_data(1, "198.18.0.1", 42), "192.0.2.1", 2)
    assert d.flush().bytes.tolist() == [42]


def test_a_source_whose_share_holds_only_valid_domains_is_refused_more():
    d = decoder(max_domains=8, max_domains_per_exporter=2)
    for domain in (1, 2, 3):
        d.feed(encode.ipfix_message(domain, [ipfix_template()]), "192.0.2.1", 0)
    assert d.metrics.drops["domain_quota_full"] == 1
    assert sorted(k[1] for k in d.ipfix.domains) == [1, 2]


def test_template_less_domains_go_first_when_the_cache_is_full():
    """Spoofed sources (each under its share) fill the whole cache: a new exporter's
    domain takes the place of the least recently seen template-less one, never of a
    domain that stored a valid template."""
    d = decoder(max_domains=6, max_domains_per_exporter=6)
    for i in (1, 2):
        d.feed(encode.ipfix_message(1, [ipfix_template()]), f"192.0.2.{i}", 0)
    for i in range(10):
        d.feed(encode.ipfix_message(5, [encode.flow_set(300, b"\1" * 8)]), f"203.0.113.{i}", 1)
    assert len(d.ipfix.domains) == 6
    valid = {(d.exporter_ids[f"192.0.2.{i}"], 1) for i in (1, 2)}
    assert valid <= set(d.ipfix.domains)
    d.feed(encode.ipfix_message(1, [ipfix_template(), _ipfix_set()]), "192.0.2.3", 2)
    assert d.flush().bytes.tolist() == [7]
    assert valid <= set(d.ipfix.domains)
    # Once every domain has a valid template, a newcomer is refused, not let in.
    for i in range(4, 8):
        d.feed(encode.ipfix_message(1, [ipfix_template()]), f"192.0.2.{i}", 3)
    assert d.metrics.drops["domain_cache_full"] == 1
    assert all(not d.ipfix.quota.is_bare(k) for k in d.ipfix.domains)


def _ipfix_set() -> bytes:
    return encode.flow_set(256, v4_records(["198.18.5.1"], [7]).tobytes())


def test_evicting_a_domain_counts_what_it_held_as_lost():
    d = decoder(max_domains=4, max_domains_per_exporter=1)
    d.feed(encode.ipfix_message(1, [_ipfix_set()]), ATTACKER, 0)
    assert d.ipfix.pending_bytes > 0
    d.feed(encode.ipfix_message(2, [_ipfix_set()]), ATTACKER, 1)
    assert d.metrics.drops["no_template"] == 1
    assert d.ipfix.usage.of[d.exporter_ids[ATTACKER]].pending_sets == 1


def test_templates_are_capped_per_exporter_and_in_total():
    d = decoder(max_templates_per_exporter=3, max_templates_total=5)
    sets = [ipfix_template(256 + i) for i in range(4)]
    for domain in (1, 2):
        d.feed(encode.ipfix_message(domain, sets), "192.0.2.1", 0)
    assert d.ipfix.templates() == 3
    d.feed(encode.ipfix_message(1, sets), "192.0.2.2", 0)
    assert d.ipfix.templates() == 5
    assert d.metrics.drops["template_cache_full"] == 5 + 2
    # Withdrawn and expired templates give their room back.
    d.feed(encode.ipfix_message(1, [encode.flow_set(2, b"\0\x02\0\0")]), "192.0.2.2", 1)
    assert d.ipfix.usage.total.templates == 3
    d.expire(10_000)
    assert d.ipfix.usage.total.templates == 0


def test_held_data_is_capped_per_exporter():
    d = decoder(max_pending_sets_per_exporter=3, max_pending_bytes_per_exporter=10**6)
    for domain in range(5):
        d.feed(encode.ipfix_message(domain, [_ipfix_set()]), ATTACKER, 0)
    d.feed(encode.ipfix_message(1, [_ipfix_set()]), "192.0.2.1", 0)
    assert d.metrics.drops["pending_cache_full"] == 2
    assert d.ipfix.usage.of[d.exporter_ids["192.0.2.1"]].pending_sets == 1
    d.feed(encode.ipfix_message(1, [ipfix_template()]), "192.0.2.1", 1)
    assert d.flush().bytes.tolist() == [7]
    assert d.ipfix.usage.of[d.exporter_ids["192.0.2.1"]].pending_sets == 0


def test_held_bytes_are_capped_per_exporter():
    size = len(_ipfix_set()) - 4
    d = decoder(max_pending_bytes_per_exporter=2 * size)
    for domain in range(3):
        d.feed(encode.ipfix_message(domain, [_ipfix_set()]), ATTACKER, 0)
    assert d.metrics.drops["pending_cache_full"] == 1
    assert d.ipfix.pending_bytes == 2 * size


def test_sflow_agents_from_one_source_leave_room_for_another_exporter():
    d = decoder(max_domains=8, max_domains_per_exporter=4)
    for agent in range(50):
        d.feed(encode.sflow_datagram(agent, []), ATTACKER, 0)
    d.flush()
    assert d.sflow.quota.count_of[d.exporter_ids[ATTACKER]] == 4
    frame = encode.ethernet_ipv4(ip4("198.18.3.1"), total_length=500)
    sample = encode.sflow_flow_sample(10, 3, [(1, encode.sflow_raw_header(frame))])
    d.feed(encode.sflow_datagram(ip4("192.0.2.7"), [sample]), "192.0.2.7", 1)
    batch = d.flush()
    assert batch.dst4.tolist() == [ip4("198.18.3.1")]
    assert d.metrics.drops["domain_cache_full"] == 0


def test_netflow5_engines_from_one_source_leave_room_for_another_exporter():
    d = decoder(max_domains=8, max_domains_per_exporter=4)
    rec = np.zeros(1, dtype=encode.V5_DTYPE)
    rec["dst"], rec["bytes"], rec["packets"] = ip4("198.18.4.1"), 900, 1
    for engine in range(40):
        dg = bytearray(encode.v5_packet(rec))
        dg[21] = engine
        d.feed(bytes(dg), ATTACKER, 0)
    d.flush()
    assert d.v5.quota.count_of[d.exporter_ids[ATTACKER]] == 4
    d.feed(encode.v5_packet(rec), "192.0.2.5", 1)
    assert d.flush().bytes.tolist() == [900]


def test_allowlist_drops_other_sources_before_decoding():
    d = decoder(exporters=["192.0.2.0/28", "2001:db8::/64"])
    d.feed(_v9_export(1, "198.18.0.1", 100), "192.0.2.1", 0)
    d.feed(_v9_export(1, "198.18.0.1", 100), "2001:db8::5", 0)
    for dg in JUNK[:500]:
        d.feed(dg, ATTACKER, 0)
    assert d.metrics.drops["not_allowed"] == 500
    assert ATTACKER not in d.exporter_ids  # no state at all for it
    assert sum(d.metrics.drops.values()) == 500
    assert d.flush().bytes.tolist() == [100, 100]


def test_quota_table_orders_bare_keys_by_last_sight():
    q: QuotaTable[str] = QuotaTable(total=3, per_exporter=10)
    for key in "abc":
        q.add(key, 1)
    q.touch("a")
    assert q.admit(2).evict == "b"
    q.prove("b")
    assert q.admit(2).evict == "c"
    q.remove("c", 1)
    assert q.admit(2).evict is None
    assert q.count_of == {1: 2}
