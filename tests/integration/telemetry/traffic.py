"""Steady UDP traffic to 127.0.0.1 (run inside the test's namespace): rate in bit/s, seconds."""

from __future__ import annotations

import socket
import sys
import time


def main() -> None:
    rate_bps, seconds = float(sys.argv[1]), float(sys.argv[2])
    size = 1200
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = bytes(size)
    per_tick = rate_bps / 8 / size / 100  # datagrams per 10 ms tick
    start = time.monotonic()
    sent = 0.0
    while (now := time.monotonic()) - start < seconds:
        due = (now - start) * 100 * per_tick
        while sent < due:
            tx.sendto(payload, rx.getsockname())
            sent += 1
        try:
            while True:
                rx.recv(2048)
        except BlockingIOError:
            pass
        time.sleep(0.01)


if __name__ == "__main__":
    main()
