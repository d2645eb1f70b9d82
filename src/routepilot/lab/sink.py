"""The internet's services: a TCP sink on port 80 and a UDP discard sink on port 9.

Runs in the `inet` namespace, where AnyIP routes make every destination address
local: the kernel itself answers ICMP echo, resets TCP to closed ports and sends
port-unreachable for UDP to closed ports; this process accepts TCP on port 80
(so TCP SYN probes get a SYN/ACK and traffic has somewhere to go) and swallows
the UDP traffic sent to port 9.
"""

from __future__ import annotations

import asyncio
import socket
import sys

TCP_PORT = 80
UDP_DISCARD_PORT = 9


async def _drain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while await reader.read(65536):
            pass
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class _Discard(asyncio.DatagramProtocol):
    def datagram_received(self, data: bytes, addr: object) -> None:
        pass


def _socket(kind: int, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Traffic and probes arrive for addresses that are local only through the
    # AnyIP route; a wildcard bind receives them all.
    s.bind(("::", port))
    if kind == socket.SOCK_DGRAM:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    return s


async def serve() -> None:
    loop = asyncio.get_running_loop()
    tcp = _socket(socket.SOCK_STREAM, TCP_PORT)
    tcp.listen(4096)
    server = await asyncio.start_server(_drain, sock=tcp)
    await loop.create_datagram_endpoint(_Discard, sock=_socket(socket.SOCK_DGRAM, UDP_DISCARD_PORT))
    async with server:
        await server.serve_forever()


def main() -> int:
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
