"""The `mediadesk` command's parsing and headless commands. The engine never imports the console: the launcher
(the `mediadesk` package) passes its start function in as `main(argv, console=...)`, called only for a window.

Errors a user can cause (bad option, missing file, damaged backup) print one clear line and exit non-zero.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from engine.about import PROCESS_START, version
from engine.config import Config, load_config
from engine.errors import MediaDeskError

log = logging.getLogger("mediadesk")


# The options that may come before the command or after it. A command's own copy must not set them when it is
# not given: argparse would overwrite what came before the command with the default ("mediadesk --data-dir X
# serve" ran on the default folder).
_UNSET = {"default": argparse.SUPPRESS}


def _common(p: argparse.ArgumentParser, *, command: bool = False) -> None:
    unset = _UNSET if command else {}
    p.add_argument("--data-dir", type=Path, help="where MediaDesk keeps its database, files and logs", **unset)
    p.add_argument("--config", type=Path, dest="config_file", help="a TOML config file", **unset)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging", **unset)


def _net(p: argparse.ArgumentParser, *, command: bool = False) -> None:
    unset = _UNSET if command else {}
    p.add_argument("--host", help="listener host (default 127.0.0.1)", **unset)
    p.add_argument("--port", type=int, help="listener port (default 8787)", **unset)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mediadesk", description="MediaDesk: every WhatsApp media file, kept.")
    parser.add_argument("--version", action="version", version=f"mediadesk {version()}")
    _common(parser)
    _net(parser)
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the first painted window and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cmds: dict[str, str] = {
        "console": "open the desktop console (the default)",
        "serve": "run the listener and download workers without a window",
        "worker": "run only the download workers",
        "demo": "open the console fed by the built-in WhatsApp simulator",
        "migrate": "upgrade the database to the latest schema (backup first)",
        "rollback": "downgrade the database one revision (backup first)",
        "backup": "back up the database now",
        "restore": "restore the database from a backup file (current one backed up first)",
        "flush": "empty the download queue; media stay pending for Retry",
        "health": "run the media health check; exit 1 when it is bad",
        "retry": "retry failed media",
        "replay": "feed saved webhook bodies through ingest",
        "stats": "print media metrics",
        "alert-test": "send a test alert to the webhook and email set up",
        "connect": "connect a WhatsApp number: check it, subscribe the listener's address, name its workspace",
        "verify": "re-hash the stored files; damaged or missing ones are fetched again",
        "export": "write one contact's chat as an HTML page with its media files",
        "events": "print every media status change, from any process on this backend, until stopped",
        "cleanup": "apply the retention policy: move old media to S3 or delete them (see --dry-run)",
    }
    subs = {}
    for name, helptext in cmds.items():
        sp = sub.add_parser(name, help=helptext, description=helptext)
        _common(sp, command=True)
        subs[name] = sp
    for name in ("console", "serve", "demo"):
        _net(subs[name], command=True)
    for name in ("console", "demo"):
        subs[name].add_argument("--screenshot", type=Path, help="save a PNG of the first painted window and exit",
                                **_UNSET)
    subs["worker"].add_argument("--workers", type=int, help="worker threads (default 4)")
    subs["serve"].add_argument("--workers", type=int, help="worker threads (default 4)")
    subs["backup"].add_argument("--list", action="store_true", help="list the backups (when, why, size)")
    subs["serve"].add_argument("--no-workers", action="store_true",
                               help="listener only: `mediadesk worker`s on the shared backend download")
    subs["events"].add_argument("--json", action="store_true", help="one JSON object a line")
    subs["restore"].add_argument("file", type=Path)
    subs["replay"].add_argument("files", type=Path, nargs="+")
    g = subs["retry"].add_mutually_exclusive_group(required=True)
    g.add_argument("--all-failed", action="store_true", help="every failed media")
    g.add_argument("ids", type=int, nargs="*", default=[], help="chat_media ids")
    subs["stats"].add_argument("--json", action="store_true", help="machine-readable output")
    subs["stats"].add_argument("--window", choices=["hour", "today", "7d", "30d"],
                               help="the metrics over this window (default today); with today, first the plan's "
                                    "two monitoring reports")
    subs["health"].add_argument("--json", action="store_true", help="machine-readable output")
    for flag, what in (("--waba-id", "the WhatsApp Business Account id"), ("--phone-number-id", "the number's id"),
                       ("--callback-url", "the listener's address Meta will call, e.g. https://…/webhook")):
        subs["connect"].add_argument(flag, required=True, help=what)
    subs["verify"].add_argument("--all", action="store_true", dest="everything",
                                help="also media that failed for a bad file before (completed again when it is whole)")
    subs["export"].add_argument("--contact", required=True, metavar="WA_ID", help="the contact's WhatsApp number")
    subs["export"].add_argument("--out", required=True, type=Path, metavar="DIR", help="a new folder for the export")
    subs["export"].add_argument("--zip", action="store_true", help="write DIR.zip instead of the folder")
    _cleanup_options(subs["cleanup"])
    return parser


def _cleanup_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--older-than", metavar="AGE", help="media older than this, e.g. 90d (default: the settings')")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--move-to-s3", action="store_const", const="s3", dest="action", help="move them to S3")
    g.add_argument("--delete", action="store_const", const="delete", dest="action", help="delete their files")
    p.add_argument("--type", action="append", dest="types", metavar="TYPE",
                   help="only this media type (image, video, audio, document, sticker); repeat for more")
    p.add_argument("--dry-run", action="store_true", help="say what would go, change nothing")


def _cleanup(args: argparse.Namespace, cfg: Config, engine: Any) -> int:
    from engine.media.retention import RetentionPolicy, RetentionRule

    policy = RetentionPolicy.from_config(cfg)
    if args.action or args.older_than or args.types:
        base = policy.rules[0] if policy.rules else None
        action = args.action or (base.action if base else None)
        if action is None:
            raise MediaDeskError("the retention policy keeps everything: say --move-to-s3 or --delete")
        age = (args.older_than or "").strip().lower().removesuffix("d")
        if age and not age.isdigit():
            raise MediaDeskError(f"--older-than takes days, like 90d, not {args.older_than!r}")
        days = int(age) if age else (base.older_than_days if base else cfg.retention_days)
        policy = RetentionPolicy((RetentionRule(action, days, tuple(args.types or (base.types if base else ()))),))
    plan = engine.retention_preview(policy)
    print("\n".join([*plan.details(), ("dry run, nothing changed: " if args.dry_run else "") + plan.summary()]))
    if args.dry_run or not plan.media:
        return 0
    report = engine.apply_retention(policy)
    print("\n".join([*report.errors, report.summary()]))
    return 0 if not report.errors else 1


def _config(args: argparse.Namespace) -> Config:
    cli: dict[str, Any] = {k: getattr(args, k, None) for k in ("data_dir", "config_file", "host", "port", "workers")}
    return load_config(cli)


def _engine(cfg: Config, *, migrate: bool = True):
    from engine.runtime import MediaDeskEngine

    engine = MediaDeskEngine(cfg)
    result = engine.open(migrate=migrate)
    if result.changed and result.before is not None:
        print(result.describe(), file=sys.stderr)
    return engine


def cmd_serve(args: argparse.Namespace, cfg: Config, *, listener: bool = True) -> int:
    from engine.logs import setup_logging

    setup_logging(cfg.logs_dir, verbose=args.verbose)
    engine = _engine(cfg)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # Every process reconciles: a worker started in place of a killed one frees what that one held.
    engine.start(listener=listener, workers=not getattr(args, "no_workers", False), reconcile=True)
    if listener:
        log.info("MediaDesk serving on %s/webhook (data in %s)", engine.listener.address, cfg.data_dir)
    else:
        log.info("MediaDesk worker running with %d threads (data in %s)", cfg.workers, cfg.data_dir)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        log.info("stopping")
        engine.stop()
    return 0


def cmd_maintenance(args: argparse.Namespace, cfg: Config) -> int:
    from engine.db import migrate as migrations
    from engine.db.backend import backend_for
    from engine.logs import setup_logging

    setup_logging(cfg.logs_dir, verbose=args.verbose, stderr=args.verbose)
    if args.command == "migrate":
        print(migrations.migrate(cfg).describe())
    elif args.command == "rollback":
        r = migrations.rollback(cfg)
        print(f"database rolled back from {r.before} to {r.after or 'empty'} (backup: {r.backup})")
    elif args.command == "backup" and args.list:
        from engine.backup_schedule import format_backups

        print(format_backups(cfg))
    elif args.command == "backup":
        print(f"backup written to {backend_for(cfg.sqlalchemy_url).backup(cfg.backups_dir)}")
    elif args.command == "restore":
        safety = backend_for(cfg.sqlalchemy_url).restore(args.file, cfg.backups_dir)
        print(f"database restored from {args.file}" + (f" (previous one saved to {safety})" if safety else ""))
    return 0


def cmd_engine(args: argparse.Namespace, cfg: Config) -> int:
    from engine.logs import setup_logging

    setup_logging(cfg.logs_dir, verbose=args.verbose, stderr=args.verbose)
    engine = _engine(cfg, migrate=args.command != "health")  # a health check looks, it does not migrate
    try:
        if args.command == "replay":
            payloads = []
            for f in args.files:
                try:
                    payloads.append(json.loads(Path(f).read_text(encoding="utf-8")))
                except FileNotFoundError:
                    raise MediaDeskError(f"no such file: {f}") from None
                except (ValueError, UnicodeDecodeError) as exc:
                    raise MediaDeskError(f"{f} is not a JSON webhook body: {exc}") from None
            results = engine.ingest(payloads)
            print(f"replayed {len(payloads)} bodies: {sum(r.messages for r in results)} new messages, "
                  f"{sum(r.duplicates for r in results)} duplicates, {sum(r.statuses for r in results)} statuses, "
                  f"{sum(len(r.media_ids) for r in results)} media queued")
        elif args.command == "retry":
            n = engine.retry_failed() if args.all_failed else engine.retry_media(args.ids)
            print(f"{n} media queued again")
        elif args.command == "flush":
            print(f"queue flushed: {engine.flush_queue()} tasks dropped; media stay pending for Retry")
        elif args.command == "stats":
            from engine.metrics import format_metrics

            m = engine.metrics(args.window or "today", catch_up_all=True)  # a report must not be partial
            plan = None
            if args.window == "today":
                from engine.plan_reports import format_plan_reports, plan_reports

                plan = plan_reports(engine.db)
            if args.json:
                doc = m.to_dict() if plan is None else {"plan_reports": plan.to_dict(), **m.to_dict()}
                print(json.dumps(doc, indent=2, default=str))
            else:
                print(format_metrics(m) if plan is None else f"{format_plan_reports(plan)}\n\n{format_metrics(m)}")
        elif args.command == "alert-test":
            sent = engine.send_test_alert()
            for d in sent:
                print(f"{d.channel}: " + ("sent" if d.ok else f"not sent: {d.error}"))
            return 0 if all(d.ok for d in sent) else 1
        elif args.command == "health":
            from engine.monitoring import check_health

            engine.guard.check_schema()
            report = check_health(cfg, engine.db, engine.storage_for, queue_length=engine.queue_length(),
                                  workers_alive=None, extra_findings=engine.guard.findings(),
                                  schema_ok=engine.guard.schema_ok)
            print(json.dumps(report.to_dict(), indent=2) if args.json else report.format())
            return 0 if report.ok else 1
        elif args.command == "verify":
            from engine.media.verify import verify_media

            checked = verify_media(engine.db, engine.storage_for, requeue=engine.queue.enqueue_many,
                                   everything=args.everything)
            print("\n".join([*checked.details(), checked.summary()]))
            return 0 if checked.ok else 1
        elif args.command == "cleanup":
            return _cleanup(args, cfg, engine)
        elif args.command == "export":
            from engine.export import export_chat

            print(export_chat(engine.db, engine.storage_for, wa_id=args.contact, out=args.out, zip=args.zip).summary())
    finally:
        engine.stop()
    return 0


def cmd_connect(args: argparse.Namespace, cfg: Config) -> int:
    from engine.connect import connect_number
    from engine.logs import setup_logging

    setup_logging(cfg.logs_dir, verbose=args.verbose, stderr=args.verbose)
    done = connect_number(cfg, waba_id=args.waba_id, phone_number_id=args.phone_number_id,
                          callback_url=args.callback_url)
    print(done.describe())
    return 0


def cmd_events(args: argparse.Namespace, cfg: Config) -> int:
    from engine.logs import setup_logging
    from engine.watch import watch_events

    setup_logging(cfg.logs_dir, verbose=args.verbose, stderr=args.verbose)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # On stderr: stdout carries only the events, one a line, for a program to read.
    watch_events(cfg, sys.stdout, as_json=args.json, stop=stop,
                 on_ready=lambda where: print(f"Listening for media status changes on {where}; Ctrl+C stops.",
                                              file=sys.stderr, flush=True))
    return 0


ConsoleStart = Callable[..., int]  # (cfg, *, demo, screenshot, process_start, verbose) -> exit code


def cmd_gui(args: argparse.Namespace, cfg: Config, console: ConsoleStart | None) -> int:
    if console is None:
        raise MediaDeskError("the desktop console is not available in this installation (headless engine only)")
    return console(cfg, demo=args.command == "demo", screenshot=getattr(args, "screenshot", None),
                   process_start=PROCESS_START, verbose=args.verbose)


def main(argv: list[str] | None = None, *, console: ConsoleStart | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "console"
    args.command = command
    try:
        cfg = _config(args)
        if command in ("serve", "worker"):
            return cmd_serve(args, cfg, listener=command == "serve")
        if command in ("migrate", "rollback", "backup", "restore"):
            return cmd_maintenance(args, cfg)
        if command in ("replay", "retry", "flush", "stats", "health", "alert-test", "verify", "export",
                       "cleanup"):
            return cmd_engine(args, cfg)
        if command == "connect":
            return cmd_connect(args, cfg)
        if command == "events":
            return cmd_events(args, cfg)
        return cmd_gui(args, cfg, console)
    except MediaDeskError as exc:
        print(f"mediadesk: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:  # the database went away mid-command: what it said, in one line
        from engine.db.backend import backend_for

        print(f"mediadesk: {backend_for(cfg.sqlalchemy_url).explain(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
