"""Figure 6: crash recovery. `mediadesk serve` takes a burst of 1,000 media webhooks (every 50th a 1 MB video
trickled at 1 MB/s, so several downloads are mid-file), is killed with SIGKILL halfway through the burst,
restarted on the same data dir, and receives the rest. Measured: restart to every media completed.
Checked: every media completed with the simulator's bytes, no duplicate message, one media row each, no
partial or stray file, and no torn file visible right after the kill.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import time
from pathlib import Path

from bench.common import TOKEN, Figure, Serve, sign, tmpdir

N = 1000
SLOW_EVERY = 50


def _bodies(n: int) -> list[tuple[str, str, bytes]]:
    from engine.simulator import media_message

    out = []
    for i in range(n):
        mid = f"CR{i:05d}"
        kind, mime = ("video", "video/mp4") if i % SLOW_EVERY == 0 else ("image", "image/jpeg")
        body = json.dumps(media_message(kind, mid, mime, wamid=f"wamid.CRASH{i:06d}", wa_id=f"1555{i % 20:07d}"),
                          separators=(",", ":")).encode()
        out.append((mid, kind, body))
    return out


def _post_all(port: int, bodies: list[bytes]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for b in bodies:
        for _ in range(3):
            try:
                conn.request("POST", "/webhook", body=b, headers={"Content-Type": "application/json",
                                                                 "X-Hub-Signature-256": sign(b)})
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    break
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()


def _file_ok(data: Path, path: str | None, digest: str) -> bool:
    if not path:
        return False
    p = Path(path) if Path(path).is_absolute() else data / path
    if not p.is_file():
        return False
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest() == digest


def one_round(n: int) -> tuple[float, float, dict]:
    from engine.simulator import CloudSimulator, Fault

    sim = CloudSimulator(access_token=TOKEN)
    items = _bodies(n)
    digests = {}
    for mid, kind, _ in items:
        if kind == "video":
            m = sim.add_media(mid, "video/mp4", size=1024 * 1024, fault=Fault(slow_bps=1024 * 1024))
        else:
            m = sim.add_media(mid, "image/jpeg")
        digests[mid] = m.sha256
    data = tmpdir("crash")
    serve = Serve(data, sim.start())
    serve2: Serve | None = None
    try:
        serve.start()
        half = n // 2
        _post_all(serve.port, [b for _, _, b in items[:half]])
        serve.kill9()
        with serve.db() as c:
            rows = c.execute("select wa_media_id, path from chat_media where processing_status='completed'").fetchall()
            stored_before = c.execute("select count(*) from chats").fetchone()[0]
        torn = sum(1 for r in rows if not _file_ok(data, r["path"], digests[r["wa_media_id"]]))
        done_before = len(rows)
        serve2 = Serve(data, sim.base_url)
        serve2.port = serve.port
        t0 = time.monotonic()
        up = serve2.start()
        _post_all(serve2.port, [b for _, _, b in items[half:]])
        deadline = t0 + 300
        while time.monotonic() < deadline:
            with serve2.db() as c:
                left = c.execute("select count(*) from chat_media where processing_status != 'completed'").fetchone()[0]
                total = c.execute("select count(*) from chat_media").fetchone()[0]
            if total >= n and left == 0:
                break
            time.sleep(0.1)
        recovery = time.monotonic() - t0
        with serve2.db() as c:
            rows = c.execute("select wa_media_id, path, processing_status from chat_media").fetchall()
            dup = c.execute("select count(*) - count(distinct wamid) from chats").fetchone()[0]
            chats = c.execute("select count(*) from chats").fetchone()[0]
        serve2.stop()
        good = sum(1 for r in rows if r["processing_status"] == "completed"
                   and _file_ok(data, r["path"], digests[r["wa_media_id"]]))
        kept = {(data / r["path"]).resolve() for r in rows if r["path"]}
        files = [f for f in (data / "uploads").rglob("*") if f.is_file()] if (data / "uploads").exists() else []
        stray = [f for f in files if f.suffix in (".part", ".tmp", ".partial") or f.resolve() not in kept]
        info = dict(killed_after=half, stored_before=stored_before, done_before=done_before, torn=torn,
                    completed=good, media_rows=len(rows), chats=chats, duplicates=dup, stray=len(stray), up=up)
        return recovery, up, info
    finally:
        serve.kill9()
        if serve2 is not None:
            serve2.stop()
        sim.stop()
        shutil.rmtree(data, ignore_errors=True)


def run(quick: bool, name: str = "crash") -> list[Figure]:
    rounds = 1 if quick else 2
    times, infos = [], []
    for _ in range(rounds):
        t, _, info = one_round(N)
        times.append(t)
        infos.append(info)
    ok = all(i["completed"] == N and i["media_rows"] == N and i["chats"] == N and i["duplicates"] == 0
             and i["stray"] == 0 and i["torn"] == 0 for i in infos)
    i = infos[-1]
    return [Figure("crash.recovery", times, "s", "all completed, none dup/partial", ok,
                   note=f"kill -9 after {i['killed_after']}/{N} webhooks ({i['stored_before']} stored, "
                        f"{i['done_before']} completed before the kill, {i['torn']} torn); restart to /healthz "
                        f"{i['up']:.1f} s; {i['completed']}/{N} completed with matching bytes, {i['media_rows']} "
                        f"media rows, {i['duplicates']} duplicates, {i['stray']} stray/partial files")]
