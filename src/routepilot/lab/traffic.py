"""The customer's traffic: TCP and UDP to the destination prefixes, Zipf-shared.

Runs in the `cust` namespace (`python -m routepilot.lab.traffic ...`). Prefix
ranks are a seeded permutation, so the busiest prefixes are the same on every
run but are not simply the first ones. Sending is paced in 10 ms ticks and the
process stops by itself after its duration.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import signal
import socket
import sys
import time

import numpy as np

UDP_PORT = 9
TCP_PORT = 80
PAYLOAD = 1200
TICK_S = 0.01


def zipf_shares(count: int, s: float, seed: int = 7) -> np.ndarray:
    """Share of the total per prefix index: weight 1/rank^s over a seeded permutation."""
    ranks = np.random.default_rng(seed).permutation(count) + 1
    weights = 1.0 / ranks.astype(float) ** s
    return weights / weights.sum()


def hosts(prefix: str, per_prefix: int) -> list[str]:
    net = ipaddress.ip_network(prefix)
    step = max(1, min(net.num_addresses - 2, 250) // per_prefix)
    return [str(net.network_address + 1 + i * step) for i in range(per_prefix)]


class Generator:
    def __init__(
        self,
        prefixes: list[str],
        rate_mbps: float,
        zipf_s: float,
        hosts_per_prefix: int,
        tcp_share: float,
    ) -> None:
        self.shares = zipf_shares(len(prefixes), zipf_s)
        self.targets = [hosts(p, hosts_per_prefix) for p in prefixes]
        self.rate_bps = rate_mbps * 1e6
        self.tcp_share = tcp_share
        self.udp4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        for s in (self.udp4, self.udp6):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
            s.setblocking(False)
        self.tcp: dict[int, socket.socket] = {}
        self.payload = bytes(PAYLOAD)
        self.sent_bytes = np.zeros(len(prefixes))
        self.credit = np.zeros(len(prefixes))

    def _tcp_for(self, k: int) -> socket.socket | None:
        sock = self.tcp.get(k)
        if sock is None:
            addr = self.targets[k][0]
            fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
            sock = socket.socket(fam, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.connect((addr, TCP_PORT))
            except BlockingIOError:
                pass
            except OSError:
                sock.close()
                return None
            self.tcp[k] = sock
        return sock

    def tick(self, dt: float) -> None:
        """Sends one tick's worth: each prefix's credit grows by its share of the rate."""
        self.credit += self.shares * self.rate_bps * dt / 8.0
        for k in np.flatnonzero(self.credit >= PAYLOAD):
            n = int(self.credit[k] // PAYLOAD)
            self.credit[k] -= n * PAYLOAD
            tcp_n = int(round(n * self.tcp_share)) if self.tcp_share else 0
            if tcp_n:
                sock = self._tcp_for(int(k))
                if sock is not None:
                    try:
                        sock.send(self.payload * tcp_n)
                    except BlockingIOError:
                        pass
                    except OSError:
                        sock.close()
                        self.tcp.pop(int(k), None)
            hosts_k = self.targets[k]
            for j in range(n - tcp_n):
                addr = hosts_k[j % len(hosts_k)]
                sock = self.udp6 if ":" in addr else self.udp4
                try:
                    sock.sendto(self.payload, (addr, UDP_PORT))
                except OSError:
                    pass
            self.sent_bytes[k] += n * PAYLOAD

    def run(self, duration: float) -> None:
        start = last = time.monotonic()
        deadline = start + duration
        next_tick = start
        while time.monotonic() < deadline:
            now = time.monotonic()
            self.tick(now - last)
            last = now
            next_tick += TICK_S
            time.sleep(max(0.0, next_tick - time.monotonic()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="routepilot.lab.traffic")
    parser.add_argument("--rate", type=float, required=True, help="total Mbps")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--tcp-share", type=float, default=0.3)
    parser.add_argument("prefixes", nargs="+")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    random.seed(1)
    gen = Generator(args.prefixes, args.rate, args.zipf, args.hosts, args.tcp_share)
    gen.run(args.duration)
    return 0


if __name__ == "__main__":
    sys.exit(main())
