"""A small hand-made warehouse whose calibration and decisions are known exactly.

Two tickers, 50 weekday sessions from 2018-10-01, random-walk-like closes and
80% intervals published for horizons 1 and 2 at the first 40 sessions and the
last one:

- ``AAA``: the network ``gru-1`` is published (DM p 0.0004, Holm 0.0008); its
  interval misses every fifth as-of, so coverage is exactly 80% (inside its band);
- ``BBB``: the random walk is published (p 0.41); its interval contains the close
  only at every fourth as-of (about 24%, far outside its band: too narrow).
  Session 20 of ``BBB`` was quarantined, so the forecasts aiming at it are
  ``no_price`` (and nothing is published as of it);
- both: the forecasts of the last session are ``pending``.

An older decision (2018-06-29, AAA p 0.2) must not be shown: the newest on or
before the as-of is 2018-09-28.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from stacklstm_fin.decisions import TickerDecision, write_decisions
from stacklstm_fin.warehouse import connect, migrate

START = dt.date(2018, 10, 1)
N_SESSIONS, N_PUBLISHED = 50, 40
DECIDED = dt.date(2018, 9, 28)
QUARANTINED = 20  # BBB's session without a close
NOW = dt.datetime(2018, 12, 10, tzinfo=dt.UTC)


def weekdays(start: dt.date, n: int) -> list[dt.date]:
    out, day = [], start
    while len(out) < n:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


SESSIONS = weekdays(START, N_SESSIONS + 2)  # two more: the pending targets
AS_OF = SESSIONS[N_SESSIONS - 1]
AS_OFS = [*range(N_PUBLISHED), N_SESSIONS - 1]

# Expected per (ticker, horizon): (published, realized, pending, no_price, covered)
EXPECTED = {
    ("AAA", 1): (41, 40, 1, 0, 32),
    ("AAA", 2): (41, 40, 1, 0, 32),
    ("BBB", 1): (40, 38, 1, 1, 9),
    ("BBB", 2): (40, 38, 1, 1, 9),
}
# What miscalibrated() says about them (BBB's coverage 9/38 against its bands).
WARNINGS = [
    "BBB h=1: the 80% intervals contained 24% of 38 outcomes, outside the 95% band "
    "67%-93%: they are too narrow",
    "BBB h=2: the 80% intervals contained 24% of 38 outcomes, outside the 95% band "
    "62%-98%: they are too narrow",
]
AAA_REASON = "beats the random walk on its test windows: DM p 0.0004, holm-adjusted 0.0008 < 0.05"
BBB_REASON = "no evidence it beats the random walk: holm-adjusted p 0.41 >= 0.05"


def close(ticker: str, i: int) -> float:
    return 100.0 + i if ticker == "AAA" else 50.0 + 0.5 * i


def inside(ticker: str, i: int) -> bool:
    return i % 5 != 0 if ticker == "AAA" else i % 4 == 0


def decision(ticker: str, model_id: str, p: float, p_adj: float, ratio: float, why: str) -> Any:
    return TickerDecision(
        ticker=ticker, model_id=model_id, champion_model_id="gru-1", champion_family="gru",
        horizon=0, windows=250, champion_loss=ratio * 1e-4, random_walk_loss=1e-4,
        ratio=ratio, dm_stat=-2.0, p_value=p, p_adjusted=p_adj, significance=0.05,
        correction="holm", reason=why,
    )  # fmt: skip


def populate(url: str) -> None:
    with connect(url) as wh:
        migrate(wh)
        for ticker in ("AAA", "BBB"):
            for i in range(N_SESSIONS):
                if ticker == "BBB" and i == QUARANTINED:
                    continue
                wh.execute(
                    "INSERT INTO stacklstm.prices_daily VALUES (:t, :d, :c, :c, :c, :c, :c, 1, "
                    "'files', :now)",
                    {"t": ticker, "d": SESSIONS[i], "c": close(ticker, i), "now": NOW},
                )
        wh.execute(
            "INSERT INTO stacklstm.prices_quarantine (run_id, row_index, ticker, session_date, "
            "close, reason, quarantined_at) VALUES ('run-1', 0, 'BBB', :d, -1.0, "
            "'close is not positive', :now)",
            {"d": SESSIONS[QUARANTINED], "now": NOW},
        )
        for ticker in ("AAA", "BBB"):
            model = "gru-1" if ticker == "AAA" else "random_walk-1"
            for i in AS_OFS:
                if ticker == "BBB" and i == QUARANTINED:
                    continue
                base = close(ticker, i)
                yhat = base * 1.001 if ticker == "AAA" else base
                for h in (1, 2):
                    j = i + h
                    if j < N_SESSIONS and not (ticker == "BBB" and j == QUARANTINED):
                        actual = close(ticker, j)
                        lo, hi = (0.99, 1.01) if inside(ticker, i) else (1.01, 1.03)
                        lower, upper = actual * lo, actual * hi
                    else:
                        lower, upper = base * 0.98, base * 1.02
                    wh.execute(
                        "INSERT INTO stacklstm.forecasts (ticker, as_of_date, horizon, "
                        "target_date, model_id, base_close, yhat_log_return, yhat_close, "
                        "lower_close, upper_close, interval_level, published_at, "
                        "interval_method) VALUES (:t, :a, :h, :target, :m, :b, :r, :y, :lo, "
                        ":hi, 0.8, :now, 'aci-conformal/garch')",
                        {"t": ticker, "a": SESSIONS[i], "h": h, "target": SESSIONS[j],
                         "m": model, "b": base, "r": math.log(yhat / base), "y": yhat,
                         "lo": lower, "hi": upper, "now": NOW},
                    )  # fmt: skip
        for model_id, candidate, status, rmse, score in (
            ("gru-1", "gru", "champion", 0.0101, 0.95),
            ("random_walk-1", "random_walk", "candidate", 0.0108, 1.0),
        ):
            wh.execute(
                "INSERT INTO stacklstm.model_registry (model_id, candidate, family, "
                "hyperparameters, as_of, test_start, test_end, data_hash, code_version, seed, "
                "package_versions, metrics, status, trained_at, promoted_at) VALUES (:m, :c, "
                ":c, '{}', :a, :ts, :te, 'h', 'v', 1, '{}', :metrics, :s, :now, :promoted)",
                {"m": model_id, "c": candidate, "a": DECIDED, "ts": dt.date(2017, 10, 2),
                 "te": DECIDED, "metrics": '{"conformal_halfwidths": [0.01, 0.015]}',
                 "s": status, "now": NOW, "promoted": NOW if status == "champion" else None},
            )  # fmt: skip
            for metric, horizon, value in (("rmse", 0, rmse), ("score_vs_random_walk", 1, score)):
                wh.execute(
                    "INSERT INTO stacklstm.model_metrics VALUES (:m, 'test', '*', :h, :k, :v)",
                    {"m": model_id, "h": horizon, "k": metric, "v": value},
                )
        with wh.transaction():
            write_decisions(wh, dt.date(2018, 6, 29), [
                decision("AAA", "random_walk-1", 0.2, 0.4, 0.99, "older decision"),
            ])  # fmt: skip
            write_decisions(wh, DECIDED, [
                decision("AAA", "gru-1", 0.0004, 0.0008, 0.912, AAA_REASON),
                decision("BBB", "random_walk-1", 0.41, 0.41, 0.995, BBB_REASON),
            ])  # fmt: skip
