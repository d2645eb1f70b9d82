"""A throwaway PostgreSQL server from Debian's packages, for tests and benchmarks.

``PgServer`` runs ``initdb`` into a new directory under /tmp as the ``postgres``
user (the server refuses to run as root), starts ``postgres`` as our own child
on a free loopback port with its unix socket in that directory, waits until
``pg_isready`` says it accepts connections, and on ``stop()`` shuts it down,
waits for it and removes the directory. Password authentication (SCRAM) is on,
so the store's password file and environment variable are exercised for real.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER = "postgres"


def pg_bindir() -> Path | None:
    """The newest Debian PostgreSQL's binaries, or None when none is installed."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One server; ``dsn(dbname)`` connects over TCP to 127.0.0.1 with ``password``."""

    def __init__(self, *, durable: bool = False) -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (Debian package postgresql)")
        self.bindir = bindir
        self.durable = durable
        """False: fsync off, for tests; True: the server's defaults, for benchmarks."""
        self.password = secrets.token_urlsafe(18)
        self.port = 0
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_dir(self) -> Path:
        assert self.dir is not None
        return self.dir / "run"

    @property
    def log_path(self) -> Path:
        assert self.dir is not None
        return self.dir / "postgres.log"

    def dsn(self, dbname: str = "postgres", **extra: str) -> str:
        """A libpq key=value DSN without the password."""
        parts = {"host": "127.0.0.1", "port": str(self.port), "user": USER, "dbname": dbname}
        parts.update(extra)
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def password_file(self) -> Path:
        """A file holding the password, as an operator would keep it."""
        assert self.dir is not None
        path = self.dir / "password"
        if not path.exists():
            path.write_text(self.password + "\n")
            path.chmod(0o600)
        return path

    def _as_postgres(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args], user=USER, group=USER, extra_groups=[], cwd=self.dir,
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip

    def start(self, timeout_s: float = 60.0) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rp-pg-", dir="/tmp"))
        try:
            self._start(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout_s: float) -> None:
        assert self.dir is not None
        shutil.chown(self.dir, USER, USER)
        pwfile = self.dir / "initdb.pw"
        pwfile.write_text(self.password + "\n")
        shutil.chown(pwfile, USER, USER)
        pwfile.chmod(0o600)
        self.socket_dir.mkdir()
        shutil.chown(self.socket_dir, USER, USER)
        done = self._as_postgres(
            self.bindir / "initdb", "-D", self.dir / "data", "-U", USER,
            "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr.strip()}")
        self.port = _free_port()
        self.resume(timeout_s)

    def resume(self, timeout_s: float = 60.0) -> None:
        """Starts the server on its existing files (after ``halt``), waits until ready."""
        assert self.dir is not None
        settings = [
            f"port={self.port}",
            "listen_addresses=127.0.0.1",
            f"unix_socket_directories={self.socket_dir}",
            "max_connections=100",
            "shared_buffers=128MB",
        ]
        if not self.durable:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        args = [str(self.bindir / "postgres"), "-D", str(self.dir / "data")]
        for s in settings:
            args += ["-c", s]
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.proc = subprocess.Popen(
                args, user=USER, group=USER, extra_groups=[], cwd=self.dir,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        """Polls pg_isready until the server accepts connections (or it died)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        isready = [str(self.bindir / "pg_isready"), "-q", "-h", str(self.socket_dir)]
        isready += ["-p", str(self.port), "-U", USER, "-t", "1"]
        while subprocess.run(isready, check=False, timeout=30).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres not ready in {timeout_s}s: {self.log_tail()}")
            try:
                # Waiting on the child is the poll interval, and notices its death at once.
                code = self.proc.wait(0.05)
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"postgres exited ({code}): {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def restart(self, timeout_s: float = 60.0) -> None:
        """Shuts the server down and starts it again on the same files and port."""
        self.halt()
        self.resume(timeout_s)

    def halt(self) -> None:
        """Fast shutdown (SIGINT: sessions are ended), then SIGKILL if it hangs."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)

    def stop(self) -> None:
        """Shuts the server down and removes every file."""
        self.halt()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PgServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
