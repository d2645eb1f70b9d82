"""Sends hostile or valid exports at the collector, from inside a lab namespace.

flood_script.py junk HOST PORT SECONDS
    junk datagrams (tests/flowenc.py ``junk_datagrams``), as fast as one process
    can, for SECONDS; prints how many were sent
flood_script.py export HOST PORT SOURCE DATAGRAMS RECORDS PREFIX...
    a NetFlow v9 exporter that never sent before (its own source address):
    the template, then DATAGRAMS datagrams of RECORDS records each to PREFIX...
"""

from __future__ import annotations

import socket
import sys
import time

import numpy as np
from tests import flowenc as encode

POOL = 30_000
"""Distinct junk datagrams: 6,000 observation domains of each format, over the
collector's default max_domains (4,096)."""


def junk(host: str, port: int, seconds: float) -> None:
    pool = encode.junk_datagrams(POOL)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sent = 0
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for dg in pool[sent % POOL : sent % POOL + 1000]:
                try:
                    sock.sendto(dg, (host, port))
                except OSError:  # ENOBUFS when the link is saturated: go on
                    continue
            sent += 1000
    print(sent, flush=True)


def export(host: str, port: int, source: str, datagrams: int, records: int,
           prefixes: list[str]) -> None:  # fmt: skip
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    template = encode.flow_set(0, encode.template_record(256, encode.IPV4_FIELDS))
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        for i in range(datagrams):
            rec = np.zeros(records, dtype=encode.record_dtype(encode.IPV4_FIELDS))
            for k in range(records):
                base = int.from_bytes(socket.inet_aton(prefixes[k % len(prefixes)].split("/")[0]))
                rec[k]["ie12"] = base + 1 + k
            rec["ie1"], rec["ie2"], rec["ie14"] = 1000, 1, 1
            sets = [encode.flow_set(256, rec.tobytes())]
            count = records
            if i == 0:
                sets.insert(0, template)
                count += 1
            sock.sendto(encode.v9_packet(0x4E57, sets, count, seq=i), (host, port))
    print(datagrams * records, flush=True)


if __name__ == "__main__":
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "junk":
        junk(host, port, float(sys.argv[4]))
    else:
        export(host, port, sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), sys.argv[7:])
