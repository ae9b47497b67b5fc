"""Workload 3, the data path: a synthetic universe through ingest, validation, features, load.

``dp_tickers`` x ``dp_years`` of daily bars (500 x 20 years = about 2.5M rows in
the full profile), each stage timed once on the whole frame, rows/s:

- extract: the synthetic source's ``fetch`` (generation and conforming);
- snapshot: the raw parquet snapshot, written atomically;
- validate: ``validate_prices`` (row rules in polars + the Great Expectations
  suite); GX's share is timed inside the same call, and GX alone is run at a
  few smaller sizes so a straight line gives its fixed cost per run and its
  cost per row (the context's one-time set-up is reported apart);
- features: ``build_features`` (polars) vs ``build_features_pandas``, same rows;
- load: ``upsert`` into ``prices_daily`` on DuckDB and PostgreSQL, the first
  load (all rows new) and an idempotent re-load (nothing changes).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Sizes, rotated, summary

AS_OF = dt.date(2025, 12, 31)
PG_ADMIN_URL = os.environ.get(
    "STACKLSTM_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
_PRICE_VALUES = ["open", "high", "low", "close", "adj_close", "volume", "source"]


def bench_config(data_root: Path, overrides: dict[str, Any]) -> Any:
    """The package's config from its own loader: defaults + ``overrides``, no file, no env."""
    from stacklstm_fin.config import load_config

    empty = data_root / "bench.toml"
    data_root.mkdir(parents=True, exist_ok=True)
    empty.write_text("")  # an explicit empty file: a stacklstm_fin.toml in the cwd is not read
    return load_config(empty, env={}, overrides={"paths.data_root": str(data_root), **overrides})


@contextlib.contextmanager
def timing_wrapper(module: Any, name: str, into: list[float]) -> Iterator[None]:
    """Replace ``module.name`` by a wrapper that appends each call's seconds to ``into``."""
    original = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - t0)

    setattr(module, name, wrapper)
    try:
        yield
    finally:
        setattr(module, name, original)


def linear_fit(rows: list[int], seconds: list[float]) -> dict[str, float]:
    """seconds = fixed + per_row x rows, least squares."""
    slope, intercept = np.polyfit(np.asarray(rows, float), np.asarray(seconds, float), 1)
    return {
        "fixed_s": float(intercept),
        "per_row_us": float(slope) * 1e6,
        "rows_per_s_marginal": 1.0 / float(slope) if slope > 0 else float("nan"),
    }


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the local server for the load; dropped afterwards."""
    import psycopg

    from bench.common import Skipped

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        raise Skipped(f"no PostgreSQL at {PG_ADMIN_URL}: {str(exc).strip()[:200]}") from None
    name = f"stacklstm_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def load(url: str, prices: Any) -> dict[str, Any]:
    """First load and idempotent re-load of ``prices`` into a migrated warehouse."""
    from stacklstm_fin.pipeline.ingest import PRICES
    from stacklstm_fin.warehouse import connect, migrate, upsert

    with connect(url) as wh:
        migrate(wh)
        out: dict[str, Any] = {}
        for label in ("first_load", "reload_unchanged"):
            t0 = time.perf_counter()
            upsert(wh, PRICES, prices, ["ticker", "session_date"], compare=_PRICE_VALUES)
            seconds = time.perf_counter() - t0
            out[label] = {"seconds": seconds, "rows_per_s": prices.height / seconds}
        out["rows_in_table"] = int(wh.scalar(f"SELECT COUNT(*) FROM {PRICES}"))
    return out


def run(sizes: Sizes, info: dict[str, Any]) -> dict[str, Any]:
    import polars as pl

    from bench.common import Skipped
    from stacklstm_fin.calendar import TradingCalendar
    from stacklstm_fin.config import DatasetConfig
    from stacklstm_fin.features.pandas_reference import build_features_pandas
    from stacklstm_fin.features.returns import build_features
    from stacklstm_fin.snapshots import write_snapshot
    from stacklstm_fin.sources.synthetic import SyntheticSource, synthetic_tickers
    from stacklstm_fin.validation import expectations, validate_prices

    start = dt.date(AS_OF.year - sizes.dp_years + 1, 1, 1)
    tickers = synthetic_tickers(sizes.dp_tickers)
    stages: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-datapath-") as tmp:
        root = Path(tmp)
        cfg = bench_config(
            root,
            {
                "source.name": "synthetic",
                "source.synthetic.start": start,
                "source.synthetic.n_tickers": sizes.dp_tickers,
            },
        )
        calendar = TradingCalendar(cfg.universe.calendar, cfg.universe.calendar_start)
        source = SyntheticSource.from_config(cfg)

        t0 = time.perf_counter()
        prices = source.fetch(tickers, None, AS_OF).prices
        rows = prices.height
        stages["extract"] = _stage(time.perf_counter() - t0, rows)
        t0 = time.perf_counter()
        write_snapshot(root, "synthetic", AS_OF, prices, tickers=tickers)
        stages["snapshot"] = _stage(time.perf_counter() - t0, rows)

        # GX's context is built once per process: time that first call apart.
        small = prices.head(min(sizes.gx_sizes))
        t0 = time.perf_counter()
        expectations.run_suite(small, _sessions(calendar, small))
        gx_first_call_s = time.perf_counter() - t0

        gx_in_validate: list[float] = []
        with timing_wrapper(expectations, "run_suite", gx_in_validate):
            t0 = time.perf_counter()
            result = validate_prices(prices, cfg.validation, calendar)
            validate_s = time.perf_counter() - t0
        stages["validate"] = _stage(validate_s, rows)
        stages["validate"]["gx_s"] = gx_in_validate[0]
        stages["validate"]["rules_and_rest_s"] = validate_s - gx_in_validate[0]
        stages["validate"]["rows_quarantined"] = result.rows_quarantined
        if not result.success:
            raise RuntimeError(f"validation of the synthetic universe failed: {result.failure}")

        gx_rows, gx_seconds = [], []
        for n in sizes.gx_sizes:
            part = prices.head(n)
            sessions = _sessions(calendar, part)
            t0 = time.perf_counter()
            expectations.run_suite(part, sessions)
            gx_rows.append(part.height)
            gx_seconds.append(time.perf_counter() - t0)
        gx_rows.append(rows)
        gx_seconds.append(gx_in_validate[0])
        fit = linear_fit(gx_rows, gx_seconds)
        stages["great_expectations"] = {
            "rows": gx_rows,
            "seconds": gx_seconds,
            **fit,
            "context_setup_s": gx_first_call_s
            - fit["fixed_s"]
            - fit["per_row_us"] * 1e-6 * min(sizes.gx_sizes),
        }

        clean = result.clean
        dcfg = DatasetConfig()
        t0 = time.perf_counter()
        pdf = clean.to_pandas()
        to_pandas_s = time.perf_counter() - t0
        arms = {
            "polars": lambda: build_features(clean, dcfg),
            "pandas": lambda: build_features_pandas(pdf, dcfg),
        }
        feat_s: dict[str, list[float]] = {k: [] for k in arms}
        out_rows: dict[str, int] = {}
        for r in range(sizes.feature_repeats):
            for name in rotated(list(arms), r):
                t0 = time.perf_counter()
                frame = arms[name]()
                feat_s[name].append(time.perf_counter() - t0)
                out_rows[name] = len(frame)
        if out_rows["polars"] != out_rows["pandas"]:
            raise RuntimeError(f"features: polars and pandas disagree on rows {out_rows}")
        stages["features"] = {
            name: {**summary(s), "rows_per_s": rows / float(np.median(s))}
            for name, s in feat_s.items()
        }
        stages["features"]["to_pandas_s"] = to_pandas_s
        stages["features"]["rows_out"] = out_rows["polars"]

        now = dt.datetime.now(dt.UTC)
        to_load = clean.with_columns(
            pl.lit("synthetic").alias("source"), pl.lit(now).alias("ingested_at")
        )
        stages["load_duckdb"] = load(f"duckdb:///{root / 'warehouse.duckdb'}", to_load)
        try:
            with postgres_database() as url:
                stages["load_postgresql"] = load(url, to_load)
        except Skipped as exc:
            stages["load_postgresql"] = {"status": "skipped", "reason": str(exc)}

    ratios = {
        "ratio_polars_vs_pandas_features": stages["features"]["polars"]["rows_per_s"]
        / stages["features"]["pandas"]["rows_per_s"],
    }
    if "first_load" in stages["load_postgresql"]:
        ratios["ratio_duckdb_vs_postgresql_load"] = (
            stages["load_duckdb"]["first_load"]["rows_per_s"]
            / stages["load_postgresql"]["first_load"]["rows_per_s"]
        )
    return {
        "backend": None,
        "config": {
            "tickers": sizes.dp_tickers,
            "years": sizes.dp_years,
            "start": start,
            "as_of": AS_OF,
            "rows": rows,
            "gx_sizes": list(sizes.gx_sizes),
            "feature_repeats": sizes.feature_repeats,
            "postgres": PG_ADMIN_URL,
        },
        "results": stages,
        "ratios": ratios,
    }


def _stage(seconds: float, rows: int) -> dict[str, Any]:
    return {"seconds": seconds, "rows": rows, "rows_per_s": rows / seconds}


def _sessions(calendar: Any, frame: Any) -> list[dt.date]:
    dates = frame["session_date"]
    return calendar.sessions(dates.min(), dates.max())
