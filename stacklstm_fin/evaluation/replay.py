"""Long replay of the interval method with the random walk's point forecast.

``python -m stacklstm_fin.evaluation.replay [--start D] [--end D] [--out FILE]``
(``make evaluate``): for every session of the bundled sample in the range, the
interval each ticker would have been published with (docs/adr/0007), recomputed
from scratch at that as-of exactly as publishing does, and GARCH(1,1)-t's
around the same (zero) forecast. Prints coverage and interval score per ticker
and horizon over the whole span and per calendar year, as a Markdown table
(docs/performance.md, "Interval calibration"). No model is trained: with the
random walk as the point forecast the replay isolates the interval method.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from stacklstm_fin.evaluation.adaptive import AdaptiveSettings, ticker_interval
from stacklstm_fin.evaluation.reference import garch_t_halfwidths, interval_score


def replay_ticker(
    days: np.ndarray, adj_close: np.ndarray, start: dt.date, end: dt.date,
    settings: AdaptiveSettings, horizons: int = 5, reference: bool = True,
) -> pl.DataFrame:  # fmt: skip
    """One row per (as-of, horizon) with a realized target: inside, score, and GARCH-t's."""
    logp = np.log(np.asarray(adj_close, dtype=np.float64))
    r = np.diff(logp)
    days = np.asarray(days, dtype="datetime64[D]")
    lo = int(np.searchsorted(days, np.datetime64(start, "D")))
    hi = int(np.searchsorted(days, np.datetime64(end, "D"), side="right"))
    rows = []
    level = settings.level
    for i in range(lo, hi):
        hw = ticker_interval(r[:i], np.zeros((i + 1, horizons)), settings).halfwidths
        ref = garch_t_halfwidths(r[:i], horizons, level) if reference else np.full(horizons, 0.0)
        for h in range(1, horizons + 1):
            if i + h >= logp.shape[0]:
                break
            y = np.array([logp[i + h] - logp[i]])
            rows.append((
                days[i].astype(dt.date), h, bool(abs(y[0]) <= hw[h - 1]), 2 * hw[h - 1],
                float(interval_score(-hw[h - 1:h], hw[h - 1:h], y, level)[0]),
                bool(abs(y[0]) <= ref[h - 1]),
                float(interval_score(-ref[h - 1:h], ref[h - 1:h], y, level)[0]),
            ))  # fmt: skip
    return pl.DataFrame(
        rows, orient="row",
        schema=["as_of", "horizon", "inside", "width", "score", "garch_t_inside", "garch_t_score"],
    )  # fmt: skip


def summary(rows: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    return (
        rows.group_by(*by)
        .agg(
            pl.len().alias("n"),
            pl.col("inside").mean().alias("coverage"),
            pl.col("score").mean().alias("interval_score"),
            pl.col("garch_t_inside").mean().alias("garch_t_coverage"),
            pl.col("garch_t_score").mean().alias("garch_t_score"),
        )
        .sort(*by)
    )


def _one(args: tuple[str, dt.date, dt.date, AdaptiveSettings]) -> pl.DataFrame:
    from stacklstm_fin.sources.sample import load_sample

    ticker, start, end, settings = args
    frame = load_sample(ticker)
    rows = replay_ticker(
        frame["session_date"].to_numpy(), frame["adj_close"].to_numpy(), start, end, settings
    )
    return rows.with_columns(pl.lit(ticker).alias("ticker"))


def markdown(rows: pl.DataFrame, level: float) -> str:
    whole = summary(rows, ["ticker", "horizon"])
    yearly = summary(rows.with_columns(pl.col("as_of").dt.year().alias("year")),
                     ["ticker", "horizon", "year"])  # fmt: skip
    span = f"{rows['as_of'].min()!s} .. {rows['as_of'].max()!s}"
    out = [
        f"Nominal {level:.0%}; as-of {span}; random walk point forecast; interval score on "
        "the log return (lower is better).",
        "",
        "| ticker | h | n | coverage | worst year | best year | score | GARCH-t coverage "
        "| GARCH-t score | score / GARCH-t |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in whole.iter_rows(named=True):
        years = yearly.filter(
            (pl.col("ticker") == row["ticker"]) & (pl.col("horizon") == row["horizon"])
        ).sort("coverage")
        worst, best = years.row(0, named=True), years.row(-1, named=True)
        out.append(
            f"| {row['ticker']} | {row['horizon']} | {row['n']} | {row['coverage']:.3f} "
            f"| {worst['coverage']:.3f} ({worst['year']}) | {best['coverage']:.3f} "
            f"({best['year']}) | {row['interval_score']:.5f} | {row['garch_t_coverage']:.3f} "
            f"| {row['garch_t_score']:.5f} | {row['interval_score'] / row['garch_t_score']:.3f} |"
        )
    out += ["", "Coverage by calendar year (h = 1 / h = 5):", "",
            "| year | " + " | ".join(sorted(rows["ticker"].unique().to_list())) + " |",
            "|---|" + "---|" * rows["ticker"].n_unique()]  # fmt: skip
    for year in sorted(yearly["year"].unique().to_list()):
        cells = []
        for ticker in sorted(rows["ticker"].unique().to_list()):
            cov = yearly.filter((pl.col("ticker") == ticker) & (pl.col("year") == year))
            by_h = dict(zip(cov["horizon"].to_list(), cov["coverage"].to_list(), strict=True))
            cells.append(f"{by_h.get(1, float('nan')):.3f} / {by_h.get(5, float('nan')):.3f}")
        out.append(f"| {year} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    from stacklstm_fin.config import load_config
    from stacklstm_fin.pipeline.intervals import adaptive_settings
    from stacklstm_fin.sources.sample import SAMPLE_DATASETS

    parser = argparse.ArgumentParser(prog="python -m stacklstm_fin.evaluation.replay")
    parser.add_argument("--start", default="2008-01-02")
    parser.add_argument("--end", default="2018-12-31")
    parser.add_argument("--config", default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    settings = adaptive_settings(load_config(args.config))
    start, end = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
    jobs = [(t, start, end, settings) for t in SAMPLE_DATASETS]
    with ProcessPoolExecutor(max_workers=len(jobs)) as pool:
        rows = pl.concat(list(pool.map(_one, jobs)))
    text = markdown(rows, settings.level)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
