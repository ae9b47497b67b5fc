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
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from stacklstm_fin import __version__
from stacklstm_fin.config import SOURCES, Config, load_config
from stacklstm_fin.exceptions import ConfigError, StackLSTMError

PROG = "stacklstm-fin"
Handler = Callable[[argparse.Namespace, Config], Any]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line too (the usage is in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


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
    parser = _Parser(prog=PROG, description="Daily market data to published, auditable forecasts.")
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

    p = sub.add_parser("train", help="train every candidate, select, export and promote")
    _common(p)
    p.add_argument("--tickers", metavar="A,B,...", help="override universe.tickers")
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("forecast", help="forecast with the champion and publish")
    _common(p)
    p.add_argument("--tickers", metavar="A,B,...", help="override universe.tickers")
    p.set_defaults(handler=_cmd_forecast)

    p = sub.add_parser("run", help="ingest -> validate -> train -> select -> export -> forecast")
    _common(p)
    _source_flags(p)
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser("backfill", help="point-in-time ingest and forecasts for a range")
    _common(p, as_of=False)
    _source_flags(p)
    p.add_argument("--start", metavar="DATE", required=True, help="first date YYYY-MM-DD")
    p.add_argument("--end", metavar="DATE", required=True, help="last date YYYY-MM-DD")
    p.add_argument("--retrain-every", type=int, metavar="N", help="override backfill.retrain_every")
    p.add_argument("--backwards", action="store_true", help="publish from end to start")
    p.set_defaults(handler=_cmd_backfill)

    p = sub.add_parser("leaderboard", help="print the candidates of the newest as-of, ranked")
    _common(p, as_of=False)
    p.add_argument("--forecasts", action="store_true", help="also print the latest forecasts")
    p.set_defaults(handler=_cmd_leaderboard)

    p = sub.add_parser(
        "evaluate", help="realized coverage and interval scores per ticker and horizon"
    )
    _common(p, as_of=False)
    p.add_argument("--start", metavar="DATE", required=True, help="first as-of YYYY-MM-DD")
    p.add_argument("--end", metavar="DATE", required=True, help="last as-of YYYY-MM-DD")
    p.set_defaults(handler=_cmd_evaluate)

    p = sub.add_parser("report", help="write the HTML report (charts inline) for an as-of")
    _common(p)
    p.add_argument(
        "--out", metavar="DIR", help="folder for the report (default: <data_root>/reports)"
    )
    p.set_defaults(handler=_cmd_report)
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


def _cmd_train(args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    from stacklstm_fin.pipeline.ingest import resolve_as_of
    from stacklstm_fin.pipeline.run import train

    with _connect(cfg) as wh:
        return train(cfg, wh, resolve_as_of(cfg, _as_of(args)))


def _cmd_forecast(args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    from stacklstm_fin.pipeline.ingest import resolve_as_of
    from stacklstm_fin.pipeline.publish import forecast_and_publish

    with _connect(cfg) as wh:
        return forecast_and_publish(cfg, wh, resolve_as_of(cfg, _as_of(args)))


def _cmd_run(args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    from stacklstm_fin.pipeline.run import run_all

    with _connect(cfg) as wh:
        result = run_all(cfg, wh, _as_of(args))
    return {
        "as_of": result["as_of"],
        "rows_loaded": result["ingest"]["rows_loaded"],
        "champion": result["selection"]["champion"],
        "promoted": result["selection"]["promoted"],
        "reason": result["selection"]["reason"],
        "forecast_rows": result["forecast"]["rows"],
    }


def _cmd_backfill(args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    from stacklstm_fin.calendar import parse_date
    from stacklstm_fin.pipeline.run import backfill

    start, end = parse_date(args.start, "--start"), parse_date(args.end, "--end")
    if args.retrain_every is not None and args.retrain_every < 1:
        raise ConfigError(f"--retrain-every: expected an integer >= 1, got {args.retrain_every}")
    with _connect(cfg) as wh:
        return backfill(
            cfg, wh, start, end, retrain_every=args.retrain_every, backwards=args.backwards
        )


def _cmd_leaderboard(args: argparse.Namespace, cfg: Config) -> str:
    from stacklstm_fin.warehouse import check_schema, connect

    with connect(cfg.warehouse_url, read_only=True) as wh:
        check_schema(wh)
        board = wh.query(
            "SELECT as_of, rank, candidate, family, status, score_vs_random_walk, test_rmse, "
            "test_mase, test_directional_accuracy, status_reason "
            "FROM stacklstm.model_leaderboard ORDER BY rank, candidate"
        )
        decisions = wh.query(
            "SELECT ticker, published_candidate AS published, windows, ratio AS loss_ratio, "
            "p_value, p_adjusted, reason FROM stacklstm.latest_publication_decisions "
            "ORDER BY ticker"
        )
        parts = [
            "Leaderboard (score_vs_random_walk: geometric mean over tickers of the test loss "
            "ratio to the random walk; below 1 beats it):",
            _table(board),
            "",
            "Published per ticker (a network only with evidence it beats the random walk on "
            "the ticker's own test span: one-sided Diebold-Mariano, adjusted over tickers):",
            _table(decisions),
            "",
            "Realized calibration of the published intervals (every realized forecast; "
            "the band is the 95% binomial band around the nominal level):",
            _table(wh.query(_REALIZED_SQL)),
        ]
        if args.forecasts:
            fc = wh.query(
                "SELECT ticker, as_of_date, horizon, target_date, base_close, yhat_close, "
                "lower_close, upper_close, interval_level, model_id "
                "FROM stacklstm.latest_forecasts ORDER BY ticker, horizon"
            )
            parts += ["", "Latest forecasts:", _table(fc)]
    return "\n".join(parts)


def _cmd_evaluate(args: argparse.Namespace, cfg: Config) -> str:
    from stacklstm_fin.calendar import parse_date
    from stacklstm_fin.pipeline.evaluate import evaluate_range, render_evaluation
    from stacklstm_fin.warehouse import connect

    start, end = parse_date(args.start, "--start"), parse_date(args.end, "--end")
    with connect(cfg.warehouse_url, read_only=True) as wh:
        return render_evaluation(evaluate_range(cfg, wh, start, end))


_REALIZED_SQL = """
SELECT ticker, horizon, model_id,
       CAST(MAX(CASE WHEN metric = 'realized_forecasts' THEN value END) AS BIGINT) AS n,
       MAX(CASE WHEN metric = 'coverage' THEN value END) AS coverage,
       MAX(CASE WHEN metric = 'coverage_band_low' THEN value END) AS band_low,
       MAX(CASE WHEN metric = 'coverage_band_high' THEN value END) AS band_high,
       MAX(CASE WHEN metric = 'interval_score' THEN value END) AS interval_score
FROM stacklstm.model_metrics
WHERE split = 'realized'
GROUP BY ticker, horizon, model_id
ORDER BY ticker, horizon, model_id
"""


def _cmd_report(args: argparse.Namespace, cfg: Config) -> dict[str, Any]:
    from stacklstm_fin.report import report_command

    as_of = _as_of(args) if args.as_of else None
    return report_command(cfg, as_of, args.out)


def _table(frame: Any) -> str:
    import polars as pl

    if frame.height == 0:
        return "(no rows)"
    with pl.Config(
        tbl_rows=200,
        tbl_cols=20,
        tbl_width_chars=200,
        fmt_str_lengths=60,
        tbl_hide_dataframe_shape=True,
        float_precision=5,
    ):
        return str(frame)


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
    # TensorFlow's C++ start-up chatter (GPU probing, graph passes) is not ours to show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if args.verbose else "3")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Keras retraces predict once per candidate model: expected, not a warning.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
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
