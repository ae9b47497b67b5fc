"""Big price moves, judged per ticker against its own robust volatility (ADR 0009).

For each ticker the usable closes (the stored history before the batch, then
the batch's rows that pass the row rules) give log returns ``r_i``. A row's
robust sigma is ``1.4826 * median(|r|)`` over the ``scale_window`` returns
before it (the median absolute deviation about zero, scaled to a normal sd);
with fewer than ``scale_min_returns`` of them there is no robust sigma. A
batch row whose ``|r_i|`` is above ``max(spike_sigmas * sigma, spike_floor)``
is a *big move*, judged by the next session:

- the next return has the opposite sign and brings the close back to within
  ``(1 - revert_share) * |r_i|`` of the level before the move: a bad tick,
  quarantined (``price_spike``); the next row is judged against the level
  before the spike;
- a move of about 10x or more (``|r_i| >= log(10) - level_shift_slack``)
  that persists while ``adj_close`` does not move with it (within
  ``level_shift_slack``): a unit change or an unadjusted split; this and every
  later row of the ticker in the batch are quarantined (``level_shift``);
- otherwise the move is real: loaded, with a warning;
- the ticker's last row in the batch has no next session yet: it is held
  (``unconfirmed_move``), not loaded; the next incremental run fetches it
  again (it starts after the last *loaded* session) and judges it then.

History rows are never judged (they are loaded already); they give the
level before the batch and the returns for the robust sigma.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import polars as pl

from stacklstm_fin.config import ValidationConfig

ROW = "__row"
MAD_TO_SD = 1.4826  # 1 / Phi^-1(3/4): the MAD of a normal sample is 0.6745 sd
MOVE_REASONS = ("price_spike", "level_shift", "unconfirmed_move")
HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "session_date": pl.Date(),
    "close": pl.Float64(),
    "adj_close": pl.Float64(),
}


@dataclasses.dataclass(frozen=True)
class MoveFindings:
    """What the move rule found: per-row flags and details, and per-run notes."""

    # ROW, one boolean column per MOVE_REASONS, and move_detail (one line or null).
    flags: pl.DataFrame
    # Persisted big moves (loaded) and held ones, one line each, in ticker/date order.
    warnings: tuple[str, ...]
    # Ticker -> why its rows stop (a level shift).
    stopped: dict[str, str]


def empty_history() -> pl.DataFrame:
    return pl.DataFrame(schema=HISTORY_SCHEMA)


def _points(base: pl.DataFrame, history: pl.DataFrame | None) -> pl.DataFrame:
    """History rows before each ticker's first batch row, then the batch rows, in order."""
    batch = base.select(pl.col(ROW).cast(pl.Int64), *HISTORY_SCHEMA)
    if history is None or history.height == 0:
        return batch.sort("ticker", "session_date")
    firsts = batch.group_by("ticker").agg(pl.col("session_date").min().alias("first"))
    hist = (
        history.select(pl.col(c).cast(t) for c, t in HISTORY_SCHEMA.items())
        .join(firsts, on="ticker", how="inner")
        .filter(
            (pl.col("session_date") < pl.col("first"))
            & (pl.col("close") > 0)
            & pl.col("close").is_finite()
        )
        .select(pl.lit(-1, dtype=pl.Int64()).alias(ROW), *HISTORY_SCHEMA)
    )
    return pl.concat([hist, batch]).sort("ticker", "session_date")


def _with_thresholds(points: pl.DataFrame, cfg: ValidationConfig) -> pl.DataFrame:
    r = pl.col("close").log().diff()
    scale = (
        pl.col("abs_r")
        .shift(1)
        .rolling_median(window_size=cfg.scale_window, min_samples=cfg.scale_min_returns)
        * MAD_TO_SD
    )
    out = points.with_columns(r=r.over("ticker")).with_columns(abs_r=pl.col("r").abs())
    out = out.with_columns(sigma=scale.over("ticker"))
    threshold = pl.max_horizontal(pl.col("sigma") * cfg.spike_sigmas, pl.lit(cfg.spike_floor))
    return out.with_columns(
        threshold=threshold,
        candidate=((pl.col(ROW) >= 0) & (pl.col("abs_r") > threshold)).fill_null(False),
    )


def find_moves(
    base: pl.DataFrame, cfg: ValidationConfig, history: pl.DataFrame | None = None
) -> MoveFindings:
    """Judge the big moves of ``base`` (canonical rows that passed the row rules, with ROW)."""
    flags = {name: [False] * base.height for name in MOVE_REASONS}
    details: list[str | None] = [None] * base.height
    position = {row: i for i, row in enumerate(base[ROW].to_list())}
    warnings: list[str] = []
    stopped: dict[str, str] = {}
    points = _with_thresholds(_points(base, history), cfg)
    flagged = points.filter(pl.col("candidate"))["ticker"].unique().sort().to_list()
    for ticker in flagged:
        series = points.filter(pl.col("ticker") == ticker)
        for row, code, detail, warning in _judge_ticker(ticker, series, cfg):
            if row is not None and code is not None:
                for r in row:
                    flags[code][position[r]] = True
                    details[position[r]] = detail
            if warning is not None:
                warnings.append(warning)
            if code == "level_shift" and detail is not None:
                stopped[ticker] = detail
    frame = pl.DataFrame(
        {ROW: base[ROW], **flags, "move_detail": pl.Series(details, dtype=pl.String())}
    )
    return MoveFindings(frame, tuple(warnings), stopped)


Finding = tuple[list[int] | None, str | None, str | None, str | None]


def _judge_ticker(ticker: str, s: pl.DataFrame, cfg: ValidationConfig) -> list[Finding]:
    """Walk one ticker's points from its first big move; (rows, code, detail, warning) each."""
    rows = s[ROW].to_list()
    days: list[dt.date] = s["session_date"].to_list()
    close = s["close"].to_list()
    adj = s["adj_close"].to_list()
    sigma = s["sigma"].to_list()
    threshold = s["threshold"].to_list()
    start = s["candidate"].arg_true()[0]
    shift_size = math.log(10.0) - cfg.level_shift_slack
    out: list[Finding] = []
    last = start - 1  # the last accepted point (start >= 1: a candidate has a return)
    for i in range(start, len(rows)):
        r = math.log(close[i] / close[last])
        if abs(r) <= threshold[i]:
            last = i
            continue
        size = _size(ticker, days[i], r, sigma[i], cfg)
        if i + 1 == len(rows):
            detail = f"{size}, is the batch's last session; held until the next one"
            out.append(([rows[i]], "unconfirmed_move", detail, f"{detail}: not loaded"))
            break
        back = math.log(close[i + 1] / close[last])
        nxt = math.log(close[i + 1] / close[i])
        if nxt * r < 0 and abs(back) <= (1.0 - cfg.revert_share) * abs(r):
            detail = f"{size}, reverted on {days[i + 1].isoformat()}; not loaded"
            out.append(([rows[i]], "price_spike", detail, None))
            continue  # ``last`` stays: the next row is judged against the level before
        r_adj = _log_ratio(adj[i], adj[last])
        matching = r_adj is not None and abs(r_adj - r) <= cfg.level_shift_slack
        if abs(r) >= shift_size and not matching:
            detail = (
                f"level shift {_ratio(r)} on {days[i].isoformat()} without a matching "
                "adj_close change; rows from this date are not loaded"
            )
            out.append((rows[i:], "level_shift", detail, None))
            break
        out.append((None, None, None, f"{size}, persisted: loaded"))
        last = i
    return out


def _log_ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not (a > 0 and b > 0):
        return None
    value = math.log(a / b)
    return value if math.isfinite(value) else None


def _ratio(r: float) -> str:
    ratio = math.exp(r)
    return f"x{ratio:.1f}" if ratio >= 1 else f"x1/{1 / ratio:.1f}"


def _size(ticker: str, day: dt.date, r: float, sigma: float | None, cfg: ValidationConfig) -> str:
    """``AAA 2018-03-05: +57.0% log return, 14.2 robust sigmas``."""
    if sigma is not None and sigma > 0:
        spread = f"{abs(r) / sigma:.1f} robust sigmas"
    else:
        spread = f"no robust sigma (under {cfg.scale_min_returns} prior returns)"
    return f"{ticker} {day.isoformat()}: {100 * r:+.1f}% log return, {spread}"
