# Types of the C extension (_fastpath.c).

from collections.abc import Callable, Iterable, Sequence
from typing import Any

ICMP: int
TCP: int
UDP: int

class Channel:
    def __init__(
        self,
        fd: int,
        kind: int,
        family: int,
        magic: int,
        ident: int = 0,
        sport: int = 0,
        dport: int = 0,
        pad: bytes = b"",
    ) -> None: ...
    def send(
        self, target: str, token: int, tx_user_ns: int, ttl: int | None = None, pseudo: int = -1
    ) -> None: ...
    def send_run(
        self,
        probes: list[tuple[int, str, str, object]],
        start: int,
        provider: int,
        kind: str,
        token: int,
        tx_user_ns: int,
        inflight: dict,
        append: Callable[[Probe], object],
        done: Any,
        sock: object,
    ) -> tuple[int, int, int, list[tuple[str, int]]]: ...
    def packet(self, token: int, pseudo: int = -1) -> bytes: ...
    def record(self, token: int, tx_user_ns: int) -> None: ...
    def stamp(self, key: int, ns: int) -> bool | None: ...
    def tx_ns(self, token: int) -> int: ...
    def drain(
        self,
    ) -> tuple[list[tuple[int, str, int, int, str, int, int]], int, int, int, bool]: ...
    def drain_into(
        self, inflight: dict, sock: object, timeout_ns: int, bounds: tuple[int, ...]
    ) -> tuple[
        list[tuple[Probe, int, int]],
        list[int],
        int,
        list[tuple[int, str, int, int, str, int, int]],
        int,
        int,
        int,
        bool,
    ]: ...

def parse_answer(
    kind: int,
    family: int,
    data: bytes,
    magic: int,
    ident: int = 0,
    sport: int = 0,
    dport: int = 0,
) -> tuple[int, int, int, str | None, int] | None: ...
def parse_error(
    kind: int, family: int, data: bytes, magic: int, icmp_type: int, icmp_code: int
) -> tuple[int, int, int, None, int] | None: ...
def median_step(rtts: Iterable[float], min_answers: int) -> float: ...

SPREAD_PER_MEDIAN_STEP: float
MIN_ANSWERS: int

class HostRecord:
    samples: int
    fresh: int
    def __init__(self, samples: int = 20) -> None: ...
    def add(self, provider: int, rtt_ms: float) -> None: ...
    def settle(self, provider: int, rtt_ms: float, every: int, ms: float, ratio: float) -> bool: ...
    def read_spread(self, provider: int, rule: object) -> bool: ...
    def suspect(self, loss: float) -> bool: ...
    def full(self) -> list[int]: ...
    def lost(self, provider: int) -> int: ...
    def count(self, provider: int) -> int: ...
    @property
    def results(self) -> dict[int, list[float]]: ...
    @property
    def added(self) -> dict[int, int]: ...
    @property
    def losses(self) -> dict[int, int]: ...
    @property
    def wide(self) -> dict[int, bool]: ...

class PathStats:
    window_s: float
    jitter: float
    last_answer: float
    sent_total: int
    answered_total: int
    consecutive_losses: int
    def __init__(self, window_s: float, max_samples: int = 4096) -> None: ...
    def add(self, sent_at: float, rtt_ms: float, now: float) -> int: ...
    def trim(self, now: float) -> None: ...
    @property
    def rtts(self) -> list[float]: ...
    @property
    def times(self) -> list[float]: ...

def windows(paths: Sequence[PathStats], now: float) -> tuple[bytes, bytes]: ...

class Probe:
    token: int
    sock: Any
    target: str
    provider: int
    kind: str
    tx_user: int
    done: Any
    tag: Any
    def __init__(
        self,
        token: int,
        sock: Any,
        target: str,
        provider: int,
        kind: str,
        tx_user: int,
        done: Any,
        tag: Any,
    ) -> None: ...

class Settler:
    """The prober's ``done``: the common reply settled in C as ``prober._done`` would."""

    settled: int
    def __init__(self, prober: Any, every: int, reply: int) -> None: ...
    def __call__(
        self, probe: Probe, status: int, rtt_ns: int, responder: str, ttl: int
    ) -> None: ...

def deliver(matched: list[tuple[Probe, int, int]], status: int) -> None: ...
