"""The HA lab's database node: Debian's PostgreSQL in namespace `db`, its files under
the lab's folder, started at `lab up --controllers 2` and gone after `lab down`.

The server cannot run as root: ``initdb`` and ``postgres`` run as the `postgres`
user (``setpriv``, which execs, so the recorded PID is the server's own). It
listens on its address on each controller's link only, so downing one link cuts
that controller off from it. Password authentication (SCRAM) for the
`routepilot` role, whose password sits in a root-only file the controllers'
configs name (`store.password_file`).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from routepilot.lab.netns import LabError, pid_alive
from routepilot.lab.processes import ProcessTable
from routepilot.lab.spec import DB_PORT, db_link

ROLE = "postgres"
NODE = "db"
SYSTEM_USER = "postgres"
DB_NAME = "routepilot"
DB_USER = "routepilot"


def pg_bindir() -> Path | None:
    """The newest Debian PostgreSQL's binaries, or None when none is installed."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


class Database:
    """The lab's PostgreSQL server, recorded in the lab's process table."""

    def __init__(self, procs: ProcessTable) -> None:
        self.procs = procs

    @property
    def dir(self) -> Path:
        return self.procs.dir / "db"

    @property
    def socket_dir(self) -> Path:
        return self.dir / "run"

    @property
    def password_file(self) -> Path:
        """The `routepilot` role's password, readable by root only."""
        return self.procs.dir / "db-password"

    def dsn(self, node: str) -> str:
        """How controller ``node`` reaches the database (without the password)."""
        return f"host={db_link(node)[1]} port={DB_PORT} user={DB_USER} dbname={DB_NAME}"

    def pid(self) -> int | None:
        return next(iter(self.procs.running(ROLE)), None)

    def start(self, timeout_s: float = 60.0) -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise LabError("PostgreSQL is not installed (apt-get install postgresql)")
        self.dir.mkdir(mode=0o700)
        shutil.chown(self.dir, SYSTEM_USER, SYSTEM_USER)
        self.socket_dir.mkdir()
        shutil.chown(self.socket_dir, SYSTEM_USER, SYSTEM_USER)
        admin = secrets.token_urlsafe(18)
        pwfile = self.dir / "initdb.pw"
        pwfile.write_text(admin + "\n")
        shutil.chown(pwfile, SYSTEM_USER, SYSTEM_USER)
        pwfile.chmod(0o600)
        data = self.dir / "data"
        done = subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", SYSTEM_USER,
             "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=UTF8",
             "--locale=C.UTF-8", "--no-sync"],
            user=SYSTEM_USER, group=SYSTEM_USER, extra_groups=[], cwd=self.dir,
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        pwfile.unlink()
        if done.returncode != 0:
            raise LabError(f"initdb failed ({done.returncode}): {done.stderr.strip()}")
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write("host all all 100.68.0.0/16 scram-sha-256\n")
        listen = ",".join(db_link(n)[1] for n in self.procs.spec.controller_nodes())
        settings = [
            f"port={DB_PORT}",
            f"listen_addresses={listen}",
            f"unix_socket_directories={self.socket_dir}",
            "max_connections=60",
            "shared_buffers=32MB",
            # A lab, not a bank: no fsync; what is tested is leadership, not durability.
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
        ]
        cmd = ["setpriv", f"--reuid={SYSTEM_USER}", f"--regid={SYSTEM_USER}", "--init-groups",
               str(bindir / "postgres"), "-D", str(data)]  # fmt: skip
        for s in settings:
            cmd += ["-c", s]
        pid = self.procs.spawn(NODE, ROLE, cmd, str(data))
        self._wait_ready(pid, bindir, timeout_s)
        self._create_role(admin)

    def _wait_ready(self, pid: int, bindir: Path, timeout_s: float) -> None:
        isready = [str(bindir / "pg_isready"), "-q", "-h", str(self.socket_dir),
                   "-p", str(DB_PORT), "-U", SYSTEM_USER, "-t", "1"]  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while subprocess.run(isready, check=False, timeout=30).returncode != 0:
            if not pid_alive(pid):
                raise LabError(
                    f"postgres exited at start; see {self.procs.dir / 'db-postgres.log'}"
                )
            if time.monotonic() > deadline:
                raise LabError(f"postgres not ready after {timeout_s:.0f} s")
            time.sleep(0.1)

    def _create_role(self, admin_password: str) -> None:
        password = secrets.token_urlsafe(18)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        with psycopg.connect(
            host=str(self.socket_dir), port=DB_PORT, user=SYSTEM_USER, dbname="postgres",
            password=admin_password, autocommit=True,
        ) as conn:  # fmt: skip
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(DB_USER), sql.Literal(password)
                )
            )
            conn.execute(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")

    def stop(self, timeout_s: float = 15.0) -> bool:
        """Fast shutdown (SIGINT ends the sessions), so no shared memory is left behind."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.procs.stop(ROLE, timeout_s=3.0)
        return True
