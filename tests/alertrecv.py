"""Real alert receivers for the integration and lab tests: an SMTP server (aiosmtpd) that
requires STARTTLS and AUTH, an HTTP server that records JSON POSTs, and Debian's snmptrapd.

Each records what it received and lets a test wait for it; sockets are made in the thread
that builds the receiver, so a test in a namespace's thread (tests/fixtures/netns.py's
``netns``) gets receivers in that namespace.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def wait_for(check: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A fresh key and self-signed certificate for ``host`` (an IP SAN): (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "routepilot test smtp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class SmtpServer:
    """aiosmtpd on 127.0.0.1 requiring STARTTLS, then AUTH as ``user``/``password``."""

    def __init__(self, directory: Path, user: str, password: str, port: int | None = None):
        self.cert, key = self_signed(directory)
        self.user, self.password = user, password
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.auth_failures = 0
        self.failed_sessions: set[int] = set()
        """Connections in which AUTH failed (a client may try several mechanisms in one)."""
        self.port = port or free_port()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.cert, key)
        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope):  # noqa: N802 (aiosmtpd's name)
                msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
                server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                server.messages.append(msg)  # type: ignore[arg-type]
                return "250 OK"

        def authenticator(smtp, session, envelope, mechanism, data) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and data.login.decode() == server.user
                and data.password.decode() == server.password
            )
            if not ok:
                server.auth_failures += 1
                server.failed_sessions.add(id(session))
            return AuthResult(success=ok, handled=False)

        class Strict(Controller):
            def factory(self) -> SMTP:
                return SMTP(
                    self.handler,
                    tls_context=tls,
                    require_starttls=True,
                    auth_required=True,
                    auth_require_tls=True,
                    authenticator=authenticator,
                )

        self.controller = Strict(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


class HttpRecorder:
    """An HTTP server that records JSON POSTs (path and body) and answers ``status``."""

    def __init__(self, status: int = 200, port: int = 0) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.status = status
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                recorder.posts.append((self.path, json.loads(body)))
                self.send_response(recorder.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> HttpRecorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class TrapDaemon:
    """Debian's snmptrapd in the foreground on 127.0.0.1:``port``, logging numerically to a
    file: v2c traps with ``community`` and v3 traps from ``user`` keyed to ``engine_id``."""

    def __init__(
        self,
        directory: Path,
        *,
        community: str,
        user: str,
        engine_id: str,
        auth_key: str,
        priv_key: str,
        port: int | None = None,
        netns: str | None = None,
    ) -> None:
        self.dir = directory
        self.port = port or free_port(socket.SOCK_DGRAM)
        self.log = directory / "snmptrapd.log"
        conf = directory / "snmptrapd.conf"
        conf.write_text(
            f"authCommunity log {community}\n"
            f'createUser -e 0x{engine_id} {user} SHA "{auth_key}" AES "{priv_key}"\n'
            f"authUser log {user} priv\n"
        )
        binary = shutil.which("snmptrapd") or "/usr/sbin/snmptrapd"
        cmd = [binary, "-f", "-C", "-c", str(conf), "-Lf", str(self.log), "-On"]
        cmd += ["-M", "/dev/null", "-m", "", f"udp:127.0.0.1:{self.port}"]
        self.cmd = ["ip", "netns", "exec", netns, *cmd] if netns else cmd
        self.env = {**os.environ, "SNMP_PERSISTENT_DIR": str(directory / "persist")}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TrapDaemon:
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(lambda: "NET-SNMP version" in self.text(), 10, "snmptrapd to start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def traps(self) -> list[dict[str, str]]:
        """Each logged trap as {numeric OID: value}, in arrival order."""
        out = []
        for line in self.text().splitlines():
            if not line.startswith("."):
                continue
            trap = {}
            for binding in line.split("\t"):
                oid, _, value = binding.partition(" = ")
                trap[oid.strip()] = value.strip()
            out.append(trap)
        return out
