"""The data side of the configuration: the ``[source.*]`` and ``[validation]`` sections.

Frozen, validated types like the rest of :mod:`stacklstm_fin.config`, which
re-exports them and reads the file; they live here to keep that module short.
A wrong value raises :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from stacklstm_fin.exceptions import ConfigError

SOURCES = ("yfinance", "files", "sample", "synthetic")
SYNTHETIC_PROCESSES = ("ar", "garch")


def check_range(key: str, value: float, lo: float, hi: float) -> None:
    if not (lo <= value <= hi):
        raise ConfigError(f"{key}: expected a value in [{lo}, {hi}], got {value!r}")


def check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key}: expected one of {', '.join(choices)}; got {value!r}")


@dataclasses.dataclass(frozen=True)
class YFinanceConfig:
    start: dt.date = dt.date(2000, 1, 3)
    auto_adjust: bool = False
    retries: int = 3
    backoff_seconds: float = 2.0
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        check_range("source.yfinance.retries", self.retries, 0, 20)
        check_range("source.yfinance.backoff_seconds", self.backoff_seconds, 0.0, 600.0)
        check_range("source.yfinance.timeout_seconds", self.timeout_seconds, 1.0, 600.0)


@dataclasses.dataclass(frozen=True)
class FilesConfig:
    path: str = ""


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    n_tickers: int = 8
    start: dt.date = dt.date(2012, 1, 3)
    seed: int = 7
    # "ar": r_t = mu + phi * r_{t-1} + sigma * eps_t (known, learnable).
    # "garch": r_t = mu + sigma_t eps_t, GARCH(1, 1) variance (sources/garch.py).
    process: str = "ar"
    phi: float = 0.3
    mu: float = 0.0002
    sigma: float = 0.01
    # Per ticker (SYN0001 first), one value per ticker; empty: phi / sigma for all.
    phis: tuple[float, ...] = ()
    sigmas: tuple[float, ...] = ()
    # Unconditional daily sd sqrt(omega / (1 - alpha - beta)) = 1% (about 16% a year);
    # with sigmas, ticker i's omega is sigmas[i]^2 * (1 - alpha - beta).
    garch_omega: float = 2e-6
    garch_alpha: float = 0.08
    garch_beta: float = 0.9
    # From this session on, omega is multiplied by regime_scale^2 (volatility x scale).
    regime_switch_date: dt.date | None = None
    regime_scale: float = 1.0

    def __post_init__(self) -> None:
        key = "source.synthetic"
        check_range(f"{key}.n_tickers", self.n_tickers, 1, 100_000)
        check_choice(f"{key}.process", self.process, SYNTHETIC_PROCESSES)
        check_range(f"{key}.phi", self.phi, -0.99, 0.99)
        check_range(f"{key}.sigma", self.sigma, 1e-6, 1.0)
        for name, lo, hi in (("phis", -0.99, 0.99), ("sigmas", 1e-6, 1.0)):
            values = getattr(self, name)
            if values and len(values) != self.n_tickers:
                raise ConfigError(
                    f"{key}.{name}: expected {self.n_tickers} values (one per ticker, "
                    f"n_tickers = {self.n_tickers}), got {len(values)}"
                )
            for i, v in enumerate(values):
                check_range(f"{key}.{name}[{i}]", v, lo, hi)
        check_range(f"{key}.garch_omega", self.garch_omega, 1e-12, 1.0)
        check_range(f"{key}.garch_alpha", self.garch_alpha, 0.0, 1.0)
        check_range(f"{key}.garch_beta", self.garch_beta, 0.0, 1.0)
        if self.garch_alpha + self.garch_beta >= 1.0:
            raise ConfigError(
                f"{key}.garch_beta: expected garch_alpha + garch_beta below 1 (a stationary "
                f"GARCH), got {self.garch_alpha} + {self.garch_beta}"
            )
        check_range(f"{key}.regime_scale", self.regime_scale, 0.01, 100.0)
        if self.process == "ar" and self.regime_switch_date is not None:
            raise ConfigError(f"{key}.regime_switch_date: applies to process 'garch' only")
        if self.regime_scale != 1.0 and self.regime_switch_date is None:
            raise ConfigError(
                f"{key}.regime_scale: set {key}.regime_switch_date too "
                "(the session it applies from)"
            )
        if self.process == "garch" and self.phis:
            raise ConfigError(f"{key}.phis: applies to process 'ar' only (GARCH has no AR term)")

    def ticker_phi(self, index: int) -> float:
        """The AR coefficient of the ``index``-th default ticker (0 is SYN0001)."""
        return self.phis[index] if self.phis else self.phi

    def ticker_sigma(self, index: int) -> float:
        """The volatility scale of the ``index``-th default ticker (0 is SYN0001)."""
        return self.sigmas[index] if self.sigmas else self.sigma


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    name: str = "sample"
    refresh: bool = False
    yfinance: YFinanceConfig = YFinanceConfig()
    files: FilesConfig = FilesConfig()
    synthetic: SyntheticConfig = SyntheticConfig()

    def __post_init__(self) -> None:
        check_choice("source.name", self.name, SOURCES)


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
    # Per ticker, for a ticker with at least share_min_rows rows in the batch.
    max_quarantine_share: float = 0.05
    share_min_rows: int = 20
    stale_sessions: int = 5
    # Price moves (validation/moves.py, ADR 0009): a |log return| above
    # max(spike_sigmas x robust sigma, spike_floor) is judged by the next session.
    spike_sigmas: float = 10.0
    spike_floor: float = 0.1
    scale_window: int = 60
    scale_min_returns: int = 20
    revert_share: float = 0.8
    level_shift_slack: float = 0.25

    def __post_init__(self) -> None:
        check_range("validation.max_quarantine_share", self.max_quarantine_share, 0.0, 1.0)
        check_range("validation.share_min_rows", self.share_min_rows, 1, 1_000_000)
        check_range("validation.stale_sessions", self.stale_sessions, 2, 1000)
        check_range("validation.spike_sigmas", self.spike_sigmas, 1.0, 1000.0)
        check_range("validation.spike_floor", self.spike_floor, 0.0, 2.0)
        check_range("validation.scale_window", self.scale_window, 5, 5000)
        check_range("validation.scale_min_returns", self.scale_min_returns, 2, self.scale_window)
        check_range("validation.revert_share", self.revert_share, 0.5, 1.0)
        check_range("validation.level_shift_slack", self.level_shift_slack, 0.0, 1.0)
