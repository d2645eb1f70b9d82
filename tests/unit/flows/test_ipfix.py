"""NetFlow v9 and IPFIX: templates, options, caches and every kind of bad input."""

from __future__ import annotations

import struct

import numpy as np
from tests import flowenc as encode

from routepilot.flows.templates import VARIABLE

from .helpers import decoder, ip4, ipfix_template, v4_records


def _data(tid, rec):
    return encode.flow_set(tid, rec.tobytes())


def test_ipfix_template_then_data_decodes_every_record():
    d = decoder()
    rec = v4_records(["198.18.0.1", "198.18.1.1"], [1000, 2000], out_if=7, nh="100.64.0.1")
    d.feed(encode.ipfix_message(1, [ipfix_template(), _data(256, rec)]), "192.0.2.1", 0)
    b = d.flush()
    assert b.dst4.tolist() == [ip4("198.18.0.1"), ip4("198.18.1.1")]
    assert b.bytes.tolist() == [1000, 2000]
    assert b.out_if.tolist() == [7, 7]
    assert b.nh4.tolist() == [ip4("100.64.0.1")] * 2
    assert b.family.tolist() == [4, 4]
    assert d.metrics.records["ipfix"] == 2


def test_many_datagrams_of_one_template_decode_in_one_batch():
    d = decoder()
    d.feed(encode.ipfix_message(1, [ipfix_template()]), "192.0.2.1", 0)
    for i in range(50):
        rec = v4_records([f"198.18.{i}.1"], [i + 1])
        d.feed(encode.ipfix_message(1, [_data(256, rec)]), "192.0.2.1", 0)
    b = d.flush()
    assert b.bytes.tolist() == list(range(1, 51))


def test_data_before_template_is_held_and_decoded_when_it_arrives():
    d = decoder()
    rec = v4_records(["198.18.0.1"], [1234])
    d.feed(encode.ipfix_message(1, [_data(256, rec)]), "192.0.2.1", 0)
    assert len(d.flush()) == 0
    d.feed(encode.ipfix_message(1, [ipfix_template()]), "192.0.2.1", 1)
    assert d.flush().bytes.tolist() == [1234]
    assert d.ipfix.pending_bytes == 0


def test_held_data_expires_as_a_counted_drop():
    d = decoder(pending_hold_s=5)
    d.feed(encode.ipfix_message(1, [_data(256, v4_records(["198.18.0.1"], [1]))]), "192.0.2.1", 0)
    d.expire(10)
    assert d.metrics.drops["no_template"] == 1
    assert d.ipfix.pending_bytes == 0


def test_pending_cache_is_capped():
    d = decoder(max_pending_sets=3)
    for _ in range(10):
        d.feed(encode.ipfix_message(1, [_data(300, v4_records(["198.18.0.1"], [1]))]), "x", 0)
    assert d.metrics.drops["pending_cache_full"] == 7


def test_template_caches_are_per_exporter_and_domain():
    d = decoder()
    short = ((12, 4), (1, 4))
    rec_short = np.zeros(1, dtype=encode.record_dtype(short))
    rec_short["ie12"], rec_short["ie1"] = ip4("198.18.9.9"), 99
    d.feed(encode.ipfix_message(1, [ipfix_template()]), "192.0.2.1", 0)
    d.feed(encode.ipfix_message(1, [ipfix_template(256, short)]), "192.0.2.2", 0)
    d.feed(encode.ipfix_message(2, [ipfix_template(256, short)]), "192.0.2.1", 0)
    d.feed(encode.ipfix_message(1, [_data(256, v4_records(["198.18.0.1"], [5]))]), "192.0.2.1", 0)
    d.feed(encode.ipfix_message(1, [_data(256, rec_short)]), "192.0.2.2", 0)
    d.feed(encode.ipfix_message(2, [_data(256, rec_short)]), "192.0.2.1", 0)
    b = d.flush()
    assert sorted(b.bytes.tolist()) == [5, 99, 99]


def test_template_withdrawal_and_withdraw_all():
    d = decoder()
    d.feed(encode.ipfix_message(1, [ipfix_template(256), ipfix_template(257)]), "x", 0)
    d.feed(encode.ipfix_message(1, [encode.flow_set(2, struct.pack(">HH", 256, 0))]), "x", 0)
    state = next(iter(d.ipfix.domains.values()))
    assert set(state.templates) == {257}
    d.feed(encode.ipfix_message(1, [encode.flow_set(2, struct.pack(">HH", 2, 0))]), "x", 0)
    assert state.templates == {}


def test_v9_templates_expire_when_not_refreshed():
    d = decoder(template_timeout_s=100)
    d.feed(
        encode.v9_packet(0, [encode.flow_set(0, encode.template_record(256, ((12, 4),)))], 1),
        "x",
        0,
    )
    d.expire(50)
    assert d.metrics.templates == 1
    d.expire(200)
    assert d.metrics.templates == 0
    assert d.metrics.drops["template_expired"] == 1


def test_enterprise_and_reduced_size_fields():
    # An enterprise element (PEN 9) sits between standard ones; octets come as 3 bytes.
    tset = struct.pack(">HH", 256, 3) + struct.pack(">HH", 12, 4)
    tset += struct.pack(">HHI", 0x8000 | 100, 6, 9) + struct.pack(">HH", 1, 3)
    data = struct.pack(">I", ip4("198.18.0.7")) + b"\xee" * 6 + (70000).to_bytes(3, "big")
    d = decoder()
    d.feed(encode.ipfix_message(1, [encode.flow_set(2, tset), encode.flow_set(256, data)]), "x", 0)
    b = d.flush()
    assert b.dst4.tolist() == [ip4("198.18.0.7")]
    assert b.bytes.tolist() == [70000]


def test_variable_length_fields_are_skipped_cleanly():
    tset = struct.pack(">HH", 256, 3) + struct.pack(">HHHHHH", 12, 4, 82, VARIABLE, 1, 8)
    r1 = struct.pack(">I", ip4("198.18.0.1")) + b"\x03eth" + struct.pack(">Q", 10)
    r2 = struct.pack(">I", ip4("198.18.0.2")) + b"\xff\x00\x04xxxx" + struct.pack(">Q", 20)
    d = decoder()
    msg = encode.ipfix_message(1, [encode.flow_set(2, tset), encode.flow_set(256, r1 + r2)])
    d.feed(msg, "x", 0)
    b = d.flush()
    assert b.bytes.tolist() == [10, 20]
    assert b.dst4.tolist() == [ip4("198.18.0.1"), ip4("198.18.0.2")]


def test_ipfix_options_template_sets_domain_sampling():
    opt = encode.options_template_ipfix(300, [(149, 4)], [(34, 4)])
    odata = struct.pack(">II", 1, 100)
    rec = v4_records(["198.18.0.1"], [10])
    d = decoder()
    sets = [encode.flow_set(3, opt), encode.flow_set(300, odata), ipfix_template(), _data(256, rec)]
    d.feed(encode.ipfix_message(1, sets), "x", 0)
    assert d.flush().sampling.tolist() == [100]


def test_v9_options_with_packet_interval_and_space():
    opt = encode.options_template_v9(300, [(1, 4)], [(305, 4), (306, 4)])
    odata = struct.pack(">III", 0, 1, 9)  # 1 packet sampled, 9 skipped: 1 in 10
    tmpl = encode.flow_set(0, encode.template_record(256, encode.IPV4_FIELDS))
    rec = v4_records(["198.18.0.1"], [10])
    d = decoder()
    sets = [encode.flow_set(1, opt), encode.flow_set(300, odata), tmpl, _data(256, rec)]
    d.feed(encode.v9_packet(0, sets, 4), "x", 0)
    assert d.flush().sampling.tolist() == [10]


def test_sampling_in_the_record_wins():
    fields = ((12, 4), (1, 4), (34, 4))
    rec = np.zeros(2, dtype=encode.record_dtype(fields))
    rec["ie12"], rec["ie1"], rec["ie34"] = ip4("198.18.0.1"), 10, [0, 64]
    d = decoder()
    d.feed(encode.ipfix_message(1, [ipfix_template(256, fields), _data(256, rec)]), "x", 0)
    assert d.flush().sampling.tolist() == [1, 64]


def test_ipv6_records():
    rec = np.zeros(1, dtype=encode.record_dtype(encode.IPV6_FIELDS))
    rec["ie28_hi"], rec["ie28_lo"] = 0x20010DB800010000, 5
    rec["ie63_hi"], rec["ie63_lo"] = 0x20010DB8FFFF0000, 1
    rec["ie1"] = 1500
    d = decoder()
    d.feed(
        encode.ipfix_message(1, [ipfix_template(400, encode.IPV6_FIELDS), _data(400, rec)]), "x", 0
    )
    b = d.flush()
    assert b.family.tolist() == [6]
    assert b.dst6_hi.tolist() == [0x20010DB800010000]
    assert b.nh6_hi.tolist() == [0x20010DB8FFFF0000]


def test_template_cache_is_capped():
    d = decoder(max_templates=4)
    sets = [ipfix_template(256 + i) for i in range(10)]
    d.feed(encode.ipfix_message(1, sets), "x", 0)
    assert len(next(iter(d.ipfix.domains.values())).templates) == 4
    assert d.metrics.drops["template_cache_full"] == 6


def test_exporter_cap():
    d = decoder(max_exporters=2)
    for i in range(4):
        d.feed(encode.ipfix_message(1, [ipfix_template()]), f"192.0.2.{i}", 0)
    assert d.metrics.drops["exporter_cache_full"] == 2


def test_bad_inputs_are_counted_drops():
    d = decoder()
    good = encode.ipfix_message(1, [ipfix_template(), _data(256, v4_records(["198.18.0.1"], [1]))])
    cases = {
        "truncated_header": [b"\x00\x0a", b"\x00\x0a\x00\x20"],
        "unknown_version": [b"\x00\x07" + b"\0" * 30],
        "bad_message_length": [good[:-5]],
        "bad_set_length": [encode.ipfix_message(1, [b"\x01\x00\x00\x02"])],
        "bad_field_length": [
            encode.ipfix_message(1, [encode.flow_set(2, struct.pack(">HHHH", 256, 1, 8, 0))])
        ],
        "truncated_template": [
            encode.ipfix_message(1, [encode.flow_set(2, struct.pack(">HHHH", 256, 5, 8, 4))])
        ],
        "bad_template_id": [
            encode.ipfix_message(1, [encode.flow_set(2, struct.pack(">HHHH", 7, 1, 8, 4))])
        ],
        "unknown_set_id": [encode.ipfix_message(1, [encode.flow_set(100, b"abcd")])],
    }
    for reason, datagrams in cases.items():
        for dg in datagrams:
            d.feed(dg, "x", 0)
        assert d.metrics.drops[reason] >= len(datagrams), reason


def test_silent_domains_are_forgotten_and_free_their_slot():
    d = decoder(max_domains=2, template_timeout_s=100)
    for domain in (1, 2):
        d.feed(encode.ipfix_message(domain, [ipfix_template()]), "x", 0)
    d.feed(encode.ipfix_message(3, [ipfix_template()]), "x", 0)
    assert d.metrics.drops["domain_cache_full"] == 1
    d.expire(150)  # templates expire first, then their empty domains
    d.expire(150)
    assert d.ipfix.domains == {}
    d.feed(encode.ipfix_message(3, [ipfix_template()]), "x", 151)
    assert len(d.ipfix.domains) == 1


def test_options_template_withdrawal():
    opt = encode.options_template_ipfix(300, [(149, 4)], [(34, 4)])
    d = decoder()
    d.feed(encode.ipfix_message(1, [encode.flow_set(3, opt)]), "x", 0)
    state = next(iter(d.ipfix.domains.values()))
    assert state.templates[300].options
    d.feed(encode.ipfix_message(1, [encode.flow_set(3, struct.pack(">HH", 300, 0))]), "x", 1)
    assert state.templates == {}
    assert d.metrics.drops == {}


def test_sequence_numbers_count_what_never_arrived():
    d = decoder()
    rec = v4_records(["198.18.0.1"] * 3, [1, 2, 3])
    for seq in (0, 3, 9):  # 3 records a message: records 6..8 were lost
        msg = encode.ipfix_message(1, [ipfix_template(), _data(256, rec)], seq=seq)
        d.feed(msg, "x", 0)
    tmpl = encode.flow_set(0, encode.template_record(256, encode.IPV4_FIELDS))
    for seq in (10, 11, 14, 5):  # v9 counts packets: 12 and 13 lost; 5 is a restart
        d.feed(encode.v9_packet(0, [tmpl], 1, seq=seq), "x", 0)
    d.finish()  # a gap is loss once no late datagram can fill it any more
    assert d.metrics.sequence_gaps == {"ipfix": 3, "netflow9": 2}


def test_running_totals_are_not_summed_as_deltas():
    fields = ((12, 4), (85, 8), (86, 8))  # octetTotalCount, packetTotalCount
    rec = np.zeros(2, dtype=encode.record_dtype(fields))
    rec["ie12"], rec["ie85"], rec["ie86"] = ip4("198.18.0.1"), [1000, 2000], [1, 2]
    d = decoder()
    d.feed(encode.ipfix_message(1, [ipfix_template(256, fields), _data(256, rec)]), "x", 0)
    assert len(d.flush()) == 0
    assert d.metrics.drops == {"no_byte_counter": 2}


def test_one_template_for_both_families():
    fields = ((60, 1), (12, 4), (28, 16), (1, 4))
    rec = np.zeros(2, dtype=encode.record_dtype(fields))
    rec["ie60"] = [4, 6]
    rec["ie12"] = [ip4("198.18.0.1"), 0]
    rec["ie28_hi"] = [0, 0x20010DB800010000]
    rec["ie1"] = [10, 20]
    d = decoder()
    d.feed(encode.ipfix_message(1, [ipfix_template(256, fields), _data(256, rec)]), "x", 0)
    b = d.flush()
    assert b.family.tolist() == [4, 6]
    assert b.dst6_hi.tolist() == [0, 0x20010DB800010000]


def test_absurd_field_length_is_a_counted_drop():
    tset = encode.flow_set(2, struct.pack(">HHHHHH", 256, 2, 12, 4, 1, 60000))
    d = decoder()
    d.feed(encode.ipfix_message(1, [tset, encode.flow_set(256, b"\1" * 100)]), "x", 0)
    assert len(d.flush()) == 0
    assert d.metrics.drops == {"short_data_set": 1}


def test_unset_bgp_next_hop_falls_back_to_the_ip_next_hop_v4_and_v6():
    fields = ((12, 4), (18, 4), (15, 4), (1, 4))
    rec = np.zeros(2, dtype=encode.record_dtype(fields))
    rec["ie12"], rec["ie1"] = ip4("198.18.0.1"), 10
    rec["ie18"] = [0, ip4("100.64.0.1")]
    rec["ie15"] = ip4("100.64.0.2")
    fields6 = ((28, 16), (63, 16), (62, 16), (1, 4))
    rec6 = np.zeros(2, dtype=encode.record_dtype(fields6))
    rec6["ie28_hi"], rec6["ie1"] = 0x20010DB800010000, 10
    rec6["ie63_hi"] = [0, 0x20010DB8FFFF0001]
    rec6["ie62_hi"], rec6["ie62_lo"] = 0x20010DB8FFFF0002, 2
    d = decoder()
    sets = [ipfix_template(256, fields), _data(256, rec), ipfix_template(257, fields6),
            _data(257, rec6)]  # fmt: skip
    d.feed(encode.ipfix_message(1, sets), "x", 0)
    b = d.flush()
    assert b.nh4.tolist() == [ip4("100.64.0.2"), ip4("100.64.0.1"), 0, 0]
    assert b.nh6_hi.tolist() == [0, 0, 0x20010DB8FFFF0002, 0x20010DB8FFFF0001]
    assert b.nh6_lo.tolist() == [0, 0, 2, 0]
