"""`dispatchbot` (also `python -m bot`): run, demo, db upgrade, import."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path


def _prepare_environment() -> None:
    # PTB 22: timedelta retry_after without a deprecation warning. Twilio's edge/region env vars
    # would rewrite TWILIO_API_BASE_URL's host.
    os.environ.setdefault("PTB_TIMEDELTA", "true")


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiosqlite", "tortoise", "httpx", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("aiohttp.server").addFilter(_client_error_in_one_line)


def _client_error_in_one_line(record: logging.LogRecord) -> bool:
    """A malformed request (a 10 kB URL, a bad header) is answered 4xx by aiohttp, which logs it
    as an ERROR with a traceback: it is the client's error, so one WARNING line says it."""
    from aiohttp.http_exceptions import HttpProcessingError

    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
        record.msg = f"{record.getMessage()}: {exc.code} {exc.message[:120]}"
        record.args, record.exc_info, record.exc_text = (), None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


def cmd_run(args: argparse.Namespace) -> int:
    """The service: HTTP server, Telegram, scheduler, outbox sender; stops on SIGINT/SIGTERM."""
    from aiohttp import web

    from bot.app import build_app
    from bot.config import ConfigError, load_config

    try:
        config = load_config()
        config.check_for_run()
    except ConfigError as exc:
        print(f"dispatchbot: configuration error: {exc}", file=sys.stderr)
        return 2
    _logging(args.verbose)
    web.run_app(
        build_app(config),
        host=config.http_host,
        port=config.http_port,
        print=None,
        shutdown_timeout=10,
        access_log=None,
    )
    return 0


def cmd_db(_args: argparse.Namespace) -> int:
    """`db upgrade`: apply schema migrations to DATABASE_URL."""
    from bot.config import ConfigError, load_config
    from models.db import close_db, init_db, tortoise_config, upgrade

    try:
        config = load_config()
    except ConfigError as exc:
        print(f"dispatchbot: configuration error: {exc}", file=sys.stderr)
        return 2

    async def go() -> list[str]:
        await init_db(config.database_url, migrate=False)
        try:
            return await upgrade(tortoise_config(config.database_url))
        finally:
            await close_db()

    applied = asyncio.run(go())
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole system offline, with a printed transcript of a dispatch day."""
    from bot.demo import run_demo

    return asyncio.run(run_demo(verbose=args.verbose))


def cmd_import(args: argparse.Namespace) -> int:
    """`import KIND FILE`: bulk load, all or nothing (exit 0 done, 1 bad rows, 2 bad file)."""
    from bot.config import ConfigError, load_config
    from models.db import close_db, init_db
    from rest.importer import ImportFileError, prepare_import

    kind = args.kind
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"dispatchbot: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        # The file first: a file-level problem never opens the database.
        report, write = prepare_import(kind, Path(args.file))
    except ImportFileError as exc:
        print(f"dispatchbot import {kind}: {exc}", file=sys.stderr)
        return 2

    async def go() -> None:
        await init_db(config.database_url)
        try:
            await write(config.timezone)
        finally:
            await close_db()

    asyncio.run(go())
    if not report.ok:
        for problem in report.errors:
            print(problem, file=sys.stderr)
        print(report.summary(), file=sys.stderr)
        return 1
    print(report.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    _prepare_environment()
    parser = argparse.ArgumentParser(prog="dispatchbot", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the service").set_defaults(fn=cmd_run)
    sub.add_parser("demo", help="offline demo of a dispatch day").set_defaults(fn=cmd_demo)
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply schema migrations").set_defaults(fn=cmd_db)
    imp = sub.add_parser("import", help="bulk load a CSV or GeoJSON file (all or nothing)")
    imp.add_argument("kind", choices=("fieldworkers", "territories", "services"))
    imp.add_argument("file", help="FILE.csv (fieldworkers, services) or FILE.geojson")
    imp.set_defaults(fn=cmd_import)
    args = parser.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
