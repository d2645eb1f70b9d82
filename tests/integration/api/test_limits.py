"""A 50 MB request body is refused without being read (issue 17), by the real server.

The client declares 50 MB and sends only its first megabyte: the answer (413) must come
back while the rest was never sent, which it could not if the server read bodies whole.
A chunked body, whose size nobody declares, is refused as soon as it passes the cap.
"""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import httpx

from .conftest import WRITE

BIG = 50 * 1024 * 1024


def _connect(url: str) -> socket.socket:
    u = urlparse(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    return sock


def _request(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"PUT {path} HTTP/1.1", "Host: api", f"Authorization: Bearer {WRITE}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        got = sock.recv(65536)
        if not got:
            break
        data += got
    return data


def test_a_declared_50_mb_body_is_refused_before_it_is_sent(api_server):
    with _connect(api_server.url) as sock:
        sock.sendall(_request("/api/v1/control/dry-run", {
            "Content-Type": "application/json", "Content-Length": str(BIG)}))  # fmt: skip
        sock.sendall(b" " * (1024 * 1024))
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    metrics = httpx.get(f"{api_server.url}/metrics", headers={"Authorization": f"Bearer {WRITE}"})
    assert 'routepilot_api_rejected_total{reason="body_too_large"} 1.0' in metrics.text


def test_a_chunked_body_is_refused_once_past_the_cap(api_server):
    chunk = b"x" * 16384
    sent = 0
    with _connect(api_server.url) as sock:
        sock.sendall(_request("/api/v1/control/dry-run", {
            "Content-Type": "application/json", "Transfer-Encoding": "chunked"}))  # fmt: skip
        sock.settimeout(0.05)
        answer = b""
        while sent < BIG and not answer:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.settimeout(10)
        answer += _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 2 * 1024 * 1024  # the cap is 64 KiB; the kernel's buffers hold the rest
