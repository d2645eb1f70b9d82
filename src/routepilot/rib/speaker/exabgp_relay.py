"""The helper process ExaBGP runs: relays its API between ExaBGP and routepilot.

ExaBGP talks to a helper over the helper's stdin (JSON events) and stdout
(commands). routepilot is not that helper, so this tiny script is: it connects to
routepilot's Unix socket and copies bytes both ways. It imports nothing from
routepilot so it starts in a few milliseconds, and it exits as soon as either
side closes, which makes ExaBGP stop too (``exabgp_api_terminate``): without
routepilot there must be no injected routes.

Usage: python exabgp_relay.py SOCKET_PATH
"""

import os
import socket
import sys
import threading
import time
from collections.abc import Callable


def _connect(path: str) -> socket.socket:
    deadline = time.monotonic() + 10
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _pump(read: Callable[[int], bytes], write: Callable[[bytes], object]) -> None:
    try:
        while True:
            data = read(65536)
            if not data:
                break
            write(data)
    except OSError:
        pass
    # Either side is gone: so is the reason to live.
    os._exit(0)


def main() -> None:
    sock = _connect(sys.argv[1])
    stdout = sys.stdout.buffer

    def to_exabgp(data: bytes) -> None:
        stdout.write(data)
        stdout.flush()

    threading.Thread(target=_pump, args=(sock.recv, to_exabgp), daemon=True).start()
    _pump(os.fdopen(sys.stdin.fileno(), "rb", buffering=0).read, sock.sendall)


if __name__ == "__main__":
    main()
