"""The soak's flow exporter: IPFIX (RFC 7011) over real UDP at a fixed record rate.

Runs inside the lab's edge namespace (so that its datagrams come from edge's
address, as the controller's configuration expects) and reads its destinations
from an ``.npz`` file the runner writes: half of the records go to the hot
prefixes, half to addresses spread over the whole table. Datagrams are built
once and sent again and again, each with its own sequence number and export
time, paced in 10 ms ticks. On SIGTERM (or at the end of ``--duration``) it
writes what it sent as JSON to ``--stats``.

Usage: python bench/soak/ipfix.py --to ADDR --port N --rate RECORDS_PER_S
       --destinations FILE.npz --stats FILE.json [--duration S]
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import struct
import time
from pathlib import Path

import numpy as np

# (IE id, length): destination, BGP next hop, ingress and egress ifIndex, octets,
# packets, protocol (RFC 7012 information elements).
V4 = ((12, 4), (18, 4), (10, 4), (14, 4), (1, 8), (2, 8), (4, 1))
V6 = ((28, 16), (63, 16), (10, 4), (14, 4), (1, 8), (2, 8), (4, 1))
V4_DTYPE = np.dtype(
    [("dst", ">u4"), ("nh", ">u4"), ("in", ">u4"), ("out", ">u4"), ("octets", ">u8"),
     ("packets", ">u8"), ("proto", "u1")]
)  # fmt: skip
V6_DTYPE = np.dtype(
    [("dst", "V16"), ("nh", "V16"), ("in", ">u4"), ("out", ">u4"), ("octets", ">u8"),
     ("packets", ">u8"), ("proto", "u1")]
)  # fmt: skip
MTU = 1400
TICK_S = 0.01
DOMAIN = 1


def _set(set_id: int, body: bytes) -> bytes:
    return struct.pack(">HH", set_id, 4 + len(body)) + body


def _template(tid: int, fields: tuple[tuple[int, int], ...]) -> bytes:
    body = struct.pack(">HH", tid, len(fields))
    return body + b"".join(struct.pack(">HH", ie, n) for ie, n in fields)


def _message(sets: list[bytes]) -> bytearray:
    """An IPFIX message; export time and sequence number are filled in at each send."""
    body = b"".join(sets)
    return bytearray(struct.pack(">HHIII", 10, 16 + len(body), 0, 0, DOMAIN) + body)


def build(destinations: dict[str, np.ndarray], seed: int = 1) -> list[tuple[bytearray, int]]:
    """(message, records) pairs: data messages of both families, hot and spread
    destinations interleaved, each record on one of edge's provider links."""
    rng = np.random.default_rng(seed)
    ifindex, next_hop4, next_hop6 = (
        destinations["ifindex"], destinations["next_hop4"], destinations["next_hop6"]
    )  # fmt: skip
    out: list[tuple[bytearray, int]] = []
    for dtype, tid, key in ((V4_DTYPE, 256, "v4"), (V6_DTYPE, 257, "v6")):
        hot, spread = destinations[f"hot_{key}"], destinations[f"spread_{key}"]
        if not len(hot) and not len(spread):
            continue
        n = 2 * max(len(hot), 1) if len(hot) else len(spread)
        dst = np.concatenate([rng.choice(hot, n // 2) if len(hot) else hot,
                              rng.choice(spread, n - n // 2 if len(hot) else n)])  # fmt: skip
        rng.shuffle(dst)
        rec = np.zeros(len(dst), dtype)
        rec["dst"] = dst
        link = rng.integers(0, len(ifindex), len(dst))
        rec["out"] = ifindex[link]
        rec["nh"] = (next_hop4 if key == "v4" else next_hop6)[link]
        rec["in"] = 1
        rec["packets"] = rng.integers(1, 20, len(dst))
        rec["octets"] = rec["packets"] * rng.integers(64, 1500, len(dst))
        rec["proto"] = 6
        per = (MTU - 16 - 4) // dtype.itemsize
        for start in range(0, len(rec), per):
            chunk = rec[start : start + per]
            out.append((_message([_set(tid, chunk.tobytes())]), len(chunk)))
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def templates() -> bytearray:
    return _message([_set(2, _template(256, V4) + _template(257, V6))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="records a second")
    parser.add_argument("--destinations", type=Path, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=86400.0)
    args = parser.parse_args()
    with np.load(args.destinations) as data:
        messages = build({k: data[k] for k in data.files})
    template = templates()
    family = socket.AF_INET6 if ":" in args.to else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    sent = datagrams = errors = 0
    seq = 0
    at = 0
    credit = 0.0
    start = last = time.monotonic()
    next_template = start
    while not stop and time.monotonic() - start < args.duration:
        now = time.monotonic()
        credit += (now - last) * args.rate
        last = now
        if now >= next_template:
            # Sent with every fresh start and then once a second, as exporters resend.
            struct.pack_into(">II", template, 4, int(time.time()), seq)
            sock.sendto(template, (args.to, args.port))
            next_template = now + 1.0
        while credit > 0:
            msg, count = messages[at]
            at = (at + 1) % len(messages)
            # RFC 7011 section 3.1: the sequence number counts data records sent before.
            struct.pack_into(">II", msg, 4, int(time.time()), seq & 0xFFFFFFFF)
            try:
                sock.sendto(msg, (args.to, args.port))
                sent += count
                datagrams += 1
            except OSError:
                errors += 1
            seq += count
            credit -= count
        time.sleep(max(0.0, TICK_S - (time.monotonic() - now)))
    elapsed = time.monotonic() - start
    stats = {"records": sent, "datagrams": datagrams, "send_errors": errors, "seconds": elapsed}
    args.stats.write_text(json.dumps(stats))


if __name__ == "__main__":
    main()
