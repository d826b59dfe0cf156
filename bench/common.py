"""What every benchmark shares: the result line, the keep-alive load client, subprocess helpers."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECRET = "bench-secret"
VERIFY = "bench-verify"
TOKEN = "bench-token"
HERE = Path(__file__).resolve().parent
PY = sys.executable
# `python -m bench --db postgresql`: every `mediadesk serve` and in-process engine on a throwaway PostgreSQL
DB = os.environ.get("MEDIADESK_BENCH_DB", "sqlite")
_pg: Any = None


def database_url() -> str | None:
    """None (the SQLite file in the data dir), or a new database in the bench's PostgreSQL cluster.

    The cluster is started once per run like the tests' (tests/helpers/pg_server.py: initdb in a temp dir, trust
    on loopback, as user postgres when root), but with fsync on: a commit costs what it costs a real server."""
    global _pg
    if DB == "sqlite":
        return None
    if _pg is None:
        import atexit

        sys.path.insert(0, str(HERE.parent / "tests" / "helpers"))
        import pg_server

        _pg = pg_server.PostgresServer(fsync=True).start()
        atexit.register(_pg.stop)
    return _pg.create_database("bench")


@dataclass
class Figure:
    """One printed line: a name, the per-round values, the target and whether it holds.

    `ok` is True/False for a target, None for a figure that only reports (no target) and
    `skipped` carries the reason when the figure could not be measured at all.
    """

    name: str
    values: list[float]
    unit: str
    target: str
    ok: bool | None
    note: str = ""
    skipped: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        if self.skipped:
            return f"{self.name:<22} SKIPPED: {self.skipped}"
        if self.values:
            lo, med, hi = min(self.values), statistics.median(self.values), max(self.values)
            stats = f"min {fmt(lo)} median {fmt(med)} max {fmt(hi)} {self.unit}"
        else:
            stats = "no values"
        verdict = "REPORT" if self.ok is None else ("PASS" if self.ok else "FAIL")
        note = f" | {self.note}" if self.note else ""
        return f"{self.name:<22} {stats:<44} target {self.target:<26} {verdict}{note}"


def fmt(x: float) -> str:
    if x != x:  # nan
        return "nan"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def percentile(xs: Sequence[float], q: float) -> float:
    """The contract's percentile: the value at index len*q - 1 of the sorted list."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[max(0, int(len(s) * q) - 1)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def http_get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except Exception:
        return -1


def wait_http(url: str, proc: subprocess.Popen | None = None, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before answering {url}")
        if http_get(url, timeout=1.0) == 200:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def tmpdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"mediadesk-bench-{prefix}-"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads, from /proc."""
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def load(base: str, bodies: Sequence[bytes], threads: int = 8) -> tuple[float, list[float], dict[int, int]]:
    """The contract's client: every body once over keep-alive connections from `threads` threads.

    Returns (seconds, sorted latencies in seconds, status counts)."""
    host, port = base.split("//", 1)[1].split(":")
    lat: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    chunks = [bodies[i::threads] for i in range(threads)]
    signed = [[(b, sign(b)) for b in c] for c in chunks]

    def worker(chunk: list[tuple[bytes, str]]) -> None:
        conn: http.client.HTTPConnection | None = None
        mine: list[float] = []
        st: dict[int, int] = {}
        for b, sig in chunk:
            for _ in range(3):
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(host, int(port.rstrip("/")), timeout=30)
                    t = time.perf_counter()
                    conn.request("POST", "/webhook", body=b,
                                 headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig})
                    r = conn.getresponse()
                    r.read()
                    mine.append(time.perf_counter() - t)
                    st[r.status] = st.get(r.status, 0) + 1
                    if (r.getheader("Connection") or "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except Exception:
                    conn = None
        if conn is not None:
            conn.close()
        with lock:
            lat.extend(mine)
            for k, v in st.items():
                statuses[k] = statuses.get(k, 0) + v

    ts = [threading.Thread(target=worker, args=(c,)) for c in signed]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - t0, sorted(lat), statuses


def text_body(i: int, tag: str = "B") -> bytes:
    """A signed-ready text webhook like the contract's load bodies (500 senders, unique wamids)."""
    p = {"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550009999", "phone_number_id": "PNID1"},
        "contacts": [{"profile": {"name": f"Load {i % 500}"}, "wa_id": f"62811{i % 500:06d}"}],
        "messages": [{"from": f"62811{i % 500:06d}", "id": f"wamid.{tag}{i:08d}", "timestamp": str(1764000000 + i),
                      "type": "text", "text": {"body": f"halo, pesanan nomor {i}"}}]}}]}]}
    return json.dumps(p, separators=(",", ":")).encode()


def serve_env(data: Path, port: int, graph_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ, MEDIADESK_DATA_DIR=str(data), MEDIADESK_GRAPH_URL=graph_url,
               MEDIADESK_ACCESS_TOKEN=TOKEN, MEDIADESK_APP_SECRET=SECRET, MEDIADESK_VERIFY_TOKEN=VERIFY,
               MEDIADESK_HOST="127.0.0.1", MEDIADESK_PORT=str(port), MEDIADESK_RETRY_DELAYS="1,1,1",
               MEDIADESK_STORAGE="local", QT_QPA_PLATFORM="offscreen")
    env.update(extra)
    return env


def mediadesk_bin() -> str:
    cand = Path(PY).parent / "mediadesk"
    return str(cand) if cand.exists() else "mediadesk"


class Serve:
    """`mediadesk serve` as a subprocess in its own session (so kill -9 takes all of it)."""

    def __init__(self, data: Path, graph_url: str = "http://127.0.0.1:9", *, args: Sequence[str] = (),
                 database: str | None = None, **env: str) -> None:
        self.data = data
        self.port = free_port()
        self.graph_url = graph_url
        self.args = list(args)
        self.database = database or database_url()
        if self.database:
            env = {"MEDIADESK_DATABASE_URL": self.database, **env}
        self.env = env
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start and wait for /healthz; returns the seconds it took."""
        self.data.mkdir(parents=True, exist_ok=True)
        log = open(self.data / "serve.log", "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([mediadesk_bin(), "serve", "--data-dir", str(self.data), "--port", str(self.port),
                                      *self.args],
                                     env=serve_env(self.data, self.port, self.graph_url, **self.env),
                                     stdout=log, stderr=log, start_new_session=True)
        log.close()
        try:
            wait_http(self.base + "/healthz", self.proc)
        except RuntimeError:
            self.kill9()
            raise
        return time.monotonic() - t0

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def db(self) -> Any:
        """A DBAPI connection to the served database (`execute(sql).fetchone()` on both)."""
        if self.database:
            import psycopg

            return psycopg.connect(self.database.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        c = sqlite3.connect(self.data / "mediadesk.db", timeout=15)
        c.row_factory = sqlite3.Row
        return c


class Receiver:
    """The bare reference receiver (bench/receiver.py) as a subprocess."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([PY, str(HERE / "receiver.py"), str(self.port), SECRET],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(self.base + "/", self.proc, timeout=15)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class SimServer:
    """The project's CloudSimulator in a subprocess (bench/simserver.py), so that serving bytes does not
    share the GIL with the downloader being measured. `spec` rows: [prefix, count, mime, size, slow_bps]."""

    def __init__(self, spec: list[list[Any]]) -> None:
        self.proc = subprocess.Popen([PY, "-m", "bench.simserver", json.dumps(spec)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=str(HERE.parent))
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("http"):
            self.proc.kill()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.url, self.digests_file = line.split()

    def digests(self) -> dict[str, str]:
        return json.loads(Path(self.digests_file).read_text())

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def engine_config(data: Path, graph_url: str, **changes: Any) -> Any:
    """A Config for an in-process engine (no keyring, no environment)."""
    from engine.config import Config

    base = Config(data_dir=data, graph_url=graph_url, access_token=TOKEN, app_secret=SECRET, verify_token=VERIFY,
                  host="127.0.0.1", port=0, retry_delays=(1.0, 1.0, 1.0), database_url=database_url())
    return base.with_changes(**changes)
