"""A throwaway PostgreSQL cluster from the installed binaries, for tests (and `python tests/helpers/pg_server.py`).

initdb into a temp dir, trust authentication, a free loopback port, the socket in the same dir. PostgreSQL
refuses to run as root, so as root the cluster belongs to the `postgres` user. Each test gets a database of
its own (`create_database`), which is far cheaper than a cluster of its own.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        candidate = os.path.join(d, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def available() -> str | None:
    """None when a cluster can be started here; else why not."""
    if not find_binary("initdb") or not find_binary("postgres"):
        return "PostgreSQL is not installed (apt-get install postgresql)"
    if os.name == "posix" and os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run PostgreSQL as"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres_user() -> dict[str, Any]:
    if os.name != "posix" or os.geteuid() != 0:
        return {}
    import pwd

    pw = pwd.getpwnam("postgres")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


class PostgresServer:
    def __init__(self, *, fsync: bool = False) -> None:
        self.fsync = fsync  # a benchmark's cluster syncs its commits like a real one
        self.root = Path(tempfile.mkdtemp(prefix="mediadesk-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._user = _as_postgres_user()

    def url(self, db: str = "postgres", *, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 60.0) -> PostgresServer:
        why = available()
        if why:
            raise RuntimeError(why)
        if self._user:
            os.chown(self.root, self._user["user"], self._user["group"])
        subprocess.run([find_binary("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                        "--locale=C", "--no-sync"], check=True, capture_output=True, cwd=self.root, timeout=120,
                       **self._user)
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 - the child owns it
        # -F (no fsync): a test cluster is thrown away, and fsync is most of a commit's cost here.
        self.proc = subprocess.Popen([find_binary("postgres"), "-D", str(self.data), "-p", str(self.port),
                                      "-h", "127.0.0.1", "-k", str(self.root), *([] if self.fsync else ["-F"]),
                                      "-c", "max_connections=300"],
                                     stdout=log, stderr=log, cwd=self.root, start_new_session=True, **self._user)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}: "
                                   f"{(self.root / 'postgres.log').read_text(errors='replace')[-500:]}")
            try:
                self.execute("select 1")
                return self
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def execute(self, sql: str, db: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(db), autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)

    def add_password_user(self, user: str, password: str) -> None:
        """A role that must give its password (the cluster trusts everyone else on loopback)."""
        self.execute(f"drop role if exists \"{user}\"")
        self.execute(f"create role \"{user}\" login password '{password}'")
        hba = self.data / "pg_hba.conf"
        line = f"host all {user} 127.0.0.1/32 scram-sha-256\n"
        if line not in hba.read_text():
            hba.write_text(line + hba.read_text())  # the first matching line wins
            self.execute("select pg_reload_conf()")

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self.execute(f'create database "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        try:
            self.execute(f'drop database if exists "{name}" with (force)')
        except Exception:  # a cluster being stopped anyway
            pass

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: open sessions are cut off
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":  # a cluster for trying things by hand: prints its URL, runs until Ctrl-C or SIGTERM
    stop = threading.Event()
    # A background job of a script ignores SIGINT: SIGTERM must stop the cluster too, not orphan it.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = PostgresServer().start()
    print(server.url(), flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
