"""The ``stacklstm-fin`` command line.

Every command reads the configuration once (``--config``, then
``STACKLSTM_*`` variables, then flags), calls one library function and prints
a short summary. Bad input is one line on stderr and a non-zero exit; a
traceback means a bug.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from stacklstm_fin import __version__
from stacklstm_fin.config import SOURCES, Config, load_config
from stacklstm_fin.exceptions import StackLSTMError

PROG = "stacklstm-fin"
Handler = Callable[[argparse.Namespace, Config], Any]


def _common(parser: argparse.ArgumentParser, *, as_of: bool = True) -> None:
    parser.add_argument(
        "--config", metavar="PATH", help="TOML config (default: ./stacklstm_fin.toml if present)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    if as_of:
        parser.add_argument(
            "--as-of",
            metavar="DATE",
            help="as-of date YYYY-MM-DD, snapped to the last session on or before it "
            "(default: today)",
        )


def _source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", choices=SOURCES, help="override source.name")
    parser.add_argument("--tickers", metavar="A,B,...", help="override universe.tickers")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Daily market data to published, auditable forecasts."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("init-db", help="create or migrate the warehouse schema")
    _common(p, as_of=False)
    p.set_defaults(handler=_cmd_init_db)

    p = sub.add_parser("ingest", help="fetch, validate and load prices for one as-of")
    _common(p)
    _source_flags(p)
    p.add_argument("--refresh", action="store_true", help="fetch again instead of reusing")
    p.set_defaults(handler=_cmd_ingest)

    p = sub.add_parser("validate", help="re-validate the stored raw snapshot of an as-of")
    _common(p)
    _source_flags(p)
    p.add_argument("--dry-run", action="store_true", help="report only; write nothing")
    p.set_defaults(handler=_cmd_validate)
    return parser


def _config(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {}
    if getattr(args, "source", None):
        overrides["source.name"] = args.source
    if getattr(args, "tickers", None) is not None:
        from stacklstm_fin.symbols import parse_tickers

        overrides["universe.tickers"] = list(parse_tickers(args.tickers))
    return load_config(args.config, overrides=overrides)


def _as_of(args: argparse.Namespace) -> dt.date:
    from stacklstm_fin.calendar import parse_date

    text = getattr(args, "as_of", None)
    return parse_date(text) if text else dt.datetime.now(dt.UTC).date()


def _connect(cfg: Config) -> Any:
    from stacklstm_fin.warehouse import connect

    return connect(cfg.warehouse_url, lock_timeout=cfg.warehouse.lock_timeout_seconds)


def _cmd_init_db(args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    from stacklstm_fin.warehouse import code_schema_version, migrate

    with _connect(cfg) as wh:
        applied = migrate(wh)
    return {"warehouse": _safe_url(cfg), "applied": applied, "version": code_schema_version()}


def _cmd_ingest(args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    from stacklstm_fin.pipeline.ingest import ingest

    with _connect(cfg) as wh:
        return ingest(cfg, wh, _as_of(args), refresh=args.refresh or None)


def _cmd_validate(args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    from stacklstm_fin.pipeline.ingest import load_batch, validate_snapshot

    with _connect(cfg) as wh:
        batch = validate_snapshot(cfg, wh, _as_of(args))
        if args.dry_run:
            return batch.summary()
        return load_batch(wh, batch)


def _safe_url(cfg: Config) -> str:
    from stacklstm_fin.warehouse.connection import _redact

    return _redact(cfg.warehouse_url)


def _print(result: Any) -> None:
    if isinstance(result, dict):
        width = max((len(k) for k in result), default=0)
        for key, value in result.items():
            shown = json.dumps(value, default=str) if isinstance(value, list | dict) else value
            print(f"{key:<{width}}  {shown}")
    elif result is not None:
        print(result)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handler: Handler = args.handler
    try:
        cfg = _config(args)
        _print(handler(args, cfg))
    except StackLSTMError as exc:
        message = " ".join(str(exc).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
