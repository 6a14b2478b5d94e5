"""``salescope``: serve, generate demo data, import files, export the schema."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import structlog
from sqlalchemy.engine import Engine
from tqdm import tqdm

from analytics.access import (
    COMMAND_LINE,
    Role,
    create_api_key,
    issue_jwt,
    list_api_keys,
    revoke_api_key,
)
from analytics.audit import SUCCESS, AuditEvent, record_audit
from analytics.db import create_db_engine, create_tables, list_datasets
from analytics.errors import AnalyticsError
from analytics.store import AnalyticsStore
from server.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    # Results go to stdout, so a script can read them; log lines go to stderr
    # (``serve`` configures its own logging).
    structlog.configure(logger_factory=_stderr_logger)
    try:
        return int(args.handler(args) or 0)
    except AnalyticsError as error:
        print(f"salescope: error: {error}", file=sys.stderr)
        return 2


def _stderr_logger(*_args: object) -> structlog.PrintLogger:
    # Looked up on every call: whoever replaced sys.stderr since (pytest) gets the lines.
    return structlog.PrintLogger(sys.stderr)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="salescope", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument(
        "--demo", action="store_true", help="create the demo dataset first if the database has none"
    )
    serve.set_defaults(handler=_serve)

    demo = commands.add_parser("demo", help="generate the deterministic demo dataset")
    demo.add_argument("--customers", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--dataset", default="demo", help="dataset id (default demo)")
    demo.set_defaults(handler=_demo)

    importer = commands.add_parser(
        "import", help="import a transactions or customer file (.csv, .xlsx, .xls) into a dataset"
    )
    importer.add_argument("file", type=Path)
    importer.add_argument("--dataset", required=True, help="dataset id (replaced if it exists)")
    importer.add_argument("--name", help="dataset name (default: the file name)")
    importer.add_argument("--kind", choices=["transactions", "customers"], help="force the kind")
    importer.add_argument("--sheet", help="Excel sheet to read (default: the first that fits)")
    importer.set_defaults(handler=_import)

    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key and print its secret once")
    create.add_argument("--name", required=True, help="what the key is for, e.g. 'uipath robot'")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument(
        "--dataset",
        action="append",
        dest="datasets",
        metavar="ID",
        help="limit the key to this dataset (repeatable; default: every dataset)",
    )
    create.set_defaults(handler=_keys_create)
    key_commands.add_parser("list", help="list keys (never their secrets)").set_defaults(
        handler=_keys_list
    )
    revoke = key_commands.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id", metavar="ID")
    revoke.set_defaults(handler=_keys_revoke)

    token = commands.add_parser(
        "token", help="issue a bearer token (JWT) signed with SALESCOPE_JWT_SECRET"
    )
    token.add_argument("--subject", required=True, help="who the token is for ('sub')")
    token.add_argument("--role", required=True, choices=[role.value for role in Role])
    token.add_argument(
        "--dataset", action="append", dest="datasets", metavar="ID", help="limit to a dataset"
    )
    token.add_argument("--minutes", type=int, default=60, help="lifetime (default 60)")
    token.set_defaults(handler=_token)

    export = commands.add_parser("export-schema", help="print the GraphQL SDL")
    export.set_defaults(handler=_export_schema)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.logging import configure_logging

    # Worker processes build their own Settings from the environment, so
    # command-line overrides travel through it.
    for name in ("host", "port", "workers"):
        value = getattr(args, name)
        if value is not None:
            os.environ[f"SALESCOPE_{name.upper()}"] = str(value)
    settings = Settings()
    configure_logging(settings)
    # Tables are made once here, before the workers start and race to make them.
    store = _store(settings)
    if args.demo and not list_datasets(store.engine):
        from analytics.demo import create_demo_dataset

        create_demo_dataset(store.engine, customers=settings.demo_customers, publish=store.publish)
    store.engine.dispose()
    uvicorn.run(
        "server.app:serve_app",
        factory=True,
        # Importing the analytics stack takes seconds on a small machine;
        # uvicorn's default 5 s would kill workers that are still starting.
        timeout_worker_healthcheck=60,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from analytics.demo import create_demo_dataset

    store = _store(Settings())
    with _progress_bar(f"demo {args.dataset}") as progress:
        dataset = create_demo_dataset(
            store.engine,
            dataset_id=args.dataset,
            customers=args.customers,
            seed=args.seed,
            progress=progress,
            publish=store.publish,
        )
    print(
        f"dataset {dataset.id!r}: {dataset.rows_imported} order lines (version {dataset.version})"
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    from analytics.ingest import import_file

    if not args.file.is_file():
        print(f"salescope: error: {args.file}: no such file", file=sys.stderr)
        return 2
    store = _store(Settings())
    with _progress_bar(f"import {args.file.name}") as progress:
        result = import_file(
            store.engine,
            args.file,
            args.dataset,
            name=args.name,
            kind=args.kind,
            sheet=args.sheet,
            progress=progress,
            publish=store.publish,
        )
    print(
        f"dataset {result.dataset.id!r} (version {result.dataset.version}): "
        f"{result.rows_imported} rows, {result.customers} customers, {result.orders} orders, "
        f"revenue {result.revenue:,.2f}"
    )
    return 0


def _keys_create(args: argparse.Namespace) -> int:
    engine = _store(Settings()).engine
    issued = create_api_key(engine, args.name, args.role, args.datasets)
    _audit(engine, "keys.create", issued.key.id)
    key = issued.key
    scope = ", ".join(key.datasets) if key.datasets is not None else "every dataset"
    print(f"key {key.id} ({key.name}): role {key.role}, {scope}")
    print("secret (shown this once; send it as the X-API-Key header):")
    print(issued.secret)
    return 0


def _keys_list(_args: argparse.Namespace) -> int:
    keys = list_api_keys(_store(Settings()).engine)
    if not keys:
        print("no API keys")
        return 0
    print(f"{'ID':<12}  {'ROLE':<8}  {'CREATED':<20}  {'STATUS':<22}  {'DATASETS':<20}  NAME")
    for key in keys:
        created = key.created_at.strftime("%Y-%m-%d %H:%M:%S")
        status = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        scope = ",".join(key.datasets) if key.datasets is not None else "*"
        print(f"{key.id:<12}  {key.role:<8}  {created:<20}  {status:<22}  {scope:<20}  {key.name}")
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    engine = _store(Settings()).engine
    key = revoke_api_key(engine, args.key_id)
    _audit(engine, "keys.revoke", key.id)
    print(f"key {key.id} ({key.name}) revoked")
    return 0


def _token(args: argparse.Namespace) -> int:
    secret = Settings().jwt_secret_value
    if not secret:
        print("salescope: error: SALESCOPE_JWT_SECRET is not set", file=sys.stderr)
        return 2
    if not 1 <= args.minutes <= 60 * 24 * 366:
        print("salescope: error: --minutes: expected 1 to 527040", file=sys.stderr)
        return 2
    lifetime = dt.timedelta(minutes=args.minutes)
    print(issue_jwt(secret, args.subject, args.role, args.datasets, lifetime))
    return 0


def _audit(engine: Engine, action: str, target: str) -> None:
    record_audit(engine, AuditEvent.by(COMMAND_LINE, action, SUCCESS, target=target))


def _store(settings: Settings) -> AnalyticsStore:
    engine = create_db_engine(settings.resolved_database_url)
    create_tables(engine)
    return AnalyticsStore(engine, snapshot_dir=settings.snapshot_dir)


def _export_schema(_args: argparse.Namespace) -> int:
    from schema import schema

    sys.stdout.write(schema.as_str() + "\n")
    return 0


@contextmanager
def _progress_bar(description: str) -> Iterator[Callable[[float, str], None]]:
    with tqdm(total=100, desc=description, unit="%", file=sys.stderr, leave=True) as bar:

        def update(fraction: float, stage: str) -> None:
            target = round(max(0.0, min(fraction, 1.0)) * 100)
            if target > bar.n:
                bar.update(target - bar.n)
            bar.set_postfix_str(stage, refresh=False)

        yield update
        bar.update(100 - bar.n)


if __name__ == "__main__":
    raise SystemExit(main())
