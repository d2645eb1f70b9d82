"""Probe wire helpers kept in Python: the BPF filters and the TCP pseudo-header sum (the
probes themselves are built and parsed in C: test_fastpath.py)."""

from __future__ import annotations

import socket
import struct

from routepilot.probe import wire


def test_bpf_programs_jump_inside_the_program():
    for prog in (wire.icmp4_filter(5), wire.icmp6_filter(5), wire.tcp_filter(True, 80, 61000)):
        for pc, (code, jt, jf, _k) in enumerate(prog):
            if code == 0x15:
                assert pc + 1 + max(jt, jf) < len(prog)
        assert prog[-1][0] == 0x06


def test_tcp_pseudo_sum_adds_addresses_protocol_and_length():
    words = struct.unpack("!4H", socket.inet_aton("100.67.0.1") + socket.inet_aton("198.18.0.9"))
    assert wire.tcp_pseudo_sum("100.67.0.1", "198.18.0.9") == sum(words) + 6 + 24
