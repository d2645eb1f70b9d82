# Types of the C extension (_fastpath.c).

from collections.abc import Iterable

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
        self, target: str, token: int, tx_user_ns: int, ttl: int = -1, pseudo: int = -1
    ) -> None: ...
    def packet(self, token: int, pseudo: int = -1) -> bytes: ...
    def record(self, token: int, tx_user_ns: int) -> None: ...
    def stamp(self, key: int, ns: int) -> bool | None: ...
    def tx_ns(self, token: int) -> int: ...
    def drain(
        self,
    ) -> tuple[list[tuple[int, str, int, int, str, int, int]], int, int, int, bool]: ...

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
