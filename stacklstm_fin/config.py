"""Configuration: one TOML file, validated once at the edge, passed down frozen.

Resolution order (later wins):

1. built-in defaults (the dataclass defaults below),
2. the TOML file (``--config PATH``; default ``stacklstm_fin.toml`` if present),
3. environment variables ``STACKLSTM_<SECTION>__<KEY>`` (for example
   ``STACKLSTM_WAREHOUSE__URL=postgresql://...``). Values are parsed as TOML
   literals when they parse (``5``, ``true``, ``["A", "B"]``), else as strings.

A wrong key or value raises :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The [source.*] and [validation] sections, re-exported: import them from here.
from stacklstm_fin.config_data import SOURCES as SOURCES
from stacklstm_fin.config_data import SYNTHETIC_PROCESSES as SYNTHETIC_PROCESSES
from stacklstm_fin.config_data import FilesConfig as FilesConfig
from stacklstm_fin.config_data import SourceConfig as SourceConfig
from stacklstm_fin.config_data import SyntheticConfig as SyntheticConfig
from stacklstm_fin.config_data import ValidationConfig as ValidationConfig
from stacklstm_fin.config_data import YFinanceConfig as YFinanceConfig
from stacklstm_fin.config_data import check_choice as _check_choice
from stacklstm_fin.config_data import check_range as _check_range
from stacklstm_fin.exceptions import ConfigError, StackLSTMError
from stacklstm_fin.paths import resolve_data_root

DEFAULT_CONFIG_FILE = "stacklstm_fin.toml"
ENV_PREFIX = "STACKLSTM_"
NEURAL_FAMILIES = ("stacked_lstm", "gru", "lstm", "bilstm")
BASELINE_FAMILIES = ("random_walk", "drift", "ewma")
FAMILIES = NEURAL_FAMILIES + BASELINE_FAMILIES
SELECTION_METRICS = ("rmse", "mae", "mase")
VOLATILITY_MODELS = ("garch", "ewma")


@dataclasses.dataclass(frozen=True)
class UniverseConfig:
    tickers: tuple[str, ...] = ("^GSPC", "^IXIC")
    calendar: str = "XNYS"
    # exchange_calendars covers ~20 years back by default; the sample starts 1999.
    calendar_start: dt.date = dt.date(1998, 1, 2)
    # Tickers that trade on another exchange calendar than ``calendar``, e.g.
    # {"ES=F" = "CMES"}: horizon h is the h-th next session of the ticker's own calendar.
    ticker_calendars: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        from stacklstm_fin.symbols import validate_tickers

        validate_tickers(self.tickers)
        if not self.tickers:
            raise ConfigError("universe.tickers: expected at least one ticker, got an empty list")
        for ticker, _name in self.ticker_calendars:
            if ticker not in self.tickers:
                raise ConfigError(
                    f"universe.ticker_calendars: {ticker!r} is not in universe.tickers"
                )

    def calendar_of(self, ticker: str) -> str:
        """The exchange calendar ``ticker`` trades on."""
        return dict(self.ticker_calendars).get(ticker, self.calendar)


@dataclasses.dataclass(frozen=True)
class PathsConfig:
    data_root: Path = Path("data")


@dataclasses.dataclass(frozen=True)
class WarehouseConfig:
    # Empty means the embedded default: DuckDB at <data_root>/warehouse.duckdb.
    url: str = ""
    lock_timeout_seconds: float = 5.0


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    window: int = 30
    horizons: int = 5
    test_sessions: int = 250
    validation_sessions: int = 250
    # 0 keeps all history; otherwise only the newest N sessions feed the dataset.
    max_history_sessions: int = 0
    volatility_window: int = 20
    ticker_id_input: bool = False

    def __post_init__(self) -> None:
        _check_range("dataset.window", self.window, 2, 2000)
        _check_range("dataset.horizons", self.horizons, 1, 60)
        _check_range("dataset.test_sessions", self.test_sessions, 10, 100_000)
        _check_range("dataset.validation_sessions", self.validation_sessions, 10, 100_000)
        _check_range("dataset.max_history_sessions", self.max_history_sessions, 0, 1_000_000)
        _check_range("dataset.volatility_window", self.volatility_window, 2, 500)


@dataclasses.dataclass(frozen=True)
class CandidateConfig:
    name: str
    family: str
    units: tuple[int, ...] = (32,)
    dropout: float = 0.0
    # For the EWMA baseline: the smoothing span in sessions.
    span: int = 20

    def __post_init__(self) -> None:
        _check_choice(f"models.candidates[{self.name}].family", self.family, FAMILIES)
        from stacklstm_fin.symbols import NAME_PATTERN

        if not NAME_PATTERN.fullmatch(self.name):
            raise ConfigError(
                f"models.candidates.name: expected letters, digits, '_' or '-' "
                f"(at most 64), got {self.name!r}"
            )
        if self.family in NEURAL_FAMILIES:
            if not self.units or any(u < 1 or u > 4096 for u in self.units):
                raise ConfigError(
                    f"models.candidates[{self.name}].units: expected 1..4096 per layer, "
                    f"got {list(self.units)}"
                )
            if self.family == "lstm" and len(self.units) != 1:
                raise ConfigError(
                    f"models.candidates[{self.name}].units: family 'lstm' is one layer, "
                    f"got {len(self.units)} layers; use family 'stacked_lstm'"
                )
            if self.family in ("stacked_lstm", "gru", "bilstm") and len(self.units) > 4:
                raise ConfigError(
                    f"models.candidates[{self.name}].units: expected at most 4 layers, "
                    f"got {len(self.units)}"
                )
        _check_range(f"models.candidates[{self.name}].dropout", self.dropout, 0.0, 0.9)
        _check_range(f"models.candidates[{self.name}].span", self.span, 1, 10_000)

    @property
    def is_neural(self) -> bool:
        return self.family in NEURAL_FAMILIES


DEFAULT_CANDIDATES = (
    CandidateConfig(name="stacked_lstm", family="stacked_lstm", units=(32, 16), dropout=0.1),
    CandidateConfig(name="gru", family="gru", units=(32, 16), dropout=0.1),
    CandidateConfig(name="lstm", family="lstm", units=(32,)),
    CandidateConfig(name="random_walk", family="random_walk"),
    CandidateConfig(name="ewma", family="ewma", span=20),
)


@dataclasses.dataclass(frozen=True)
class ModelsConfig:
    candidates: tuple[CandidateConfig, ...] = DEFAULT_CANDIDATES

    def __post_init__(self) -> None:
        names = [c.name for c in self.candidates]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"models.candidates: names must be unique, repeated: {dupes}")
        if not any(c.family == "random_walk" for c in self.candidates):
            raise ConfigError(
                "models.candidates: a 'random_walk' candidate is required "
                "(it is the reference every model must beat)"
            )


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 15
    batch_size: int = 256
    learning_rate: float = 1e-3
    patience: int = 3
    seed: int = 42
    mixed_precision: bool = False
    # Loss above this (or NaN) rejects the candidate instead of crashing the run.
    divergence_loss: float = 1e3

    def __post_init__(self) -> None:
        _check_range("training.epochs", self.epochs, 1, 10_000)
        _check_range("training.batch_size", self.batch_size, 1, 1_000_000)
        _check_range("training.learning_rate", self.learning_rate, 1e-7, 1.0)
        _check_range("training.patience", self.patience, 0, 1000)


@dataclasses.dataclass(frozen=True)
class SelectionConfig:
    metric: str = "rmse"
    # The horizon the metric is read at; 0 means the mean over all horizons.
    horizon: int = 0
    # A challenger replaces the champion only if it is better by this fraction.
    min_improvement: float = 0.0
    # One-sided Diebold-Mariano level for "beats the random walk" (per ticker) and
    # "beats the champion" (docs/adr/0008).
    significance: float = 0.05
    correction: str = "holm"  # holm | bh: multiple testing over the tickers

    def __post_init__(self) -> None:
        _check_choice("selection.metric", self.metric, SELECTION_METRICS)
        _check_range("selection.horizon", self.horizon, 0, 60)
        _check_range("selection.min_improvement", self.min_improvement, 0.0, 1.0)
        _check_range("selection.significance", self.significance, 0.0001, 0.5)
        _check_choice("selection.correction", self.correction, ("holm", "bh"))


@dataclasses.dataclass(frozen=True)
class ForecastConfig:
    # Per-ticker adaptive conformal intervals (docs/adr/0007).
    interval_level: float = 0.8
    volatility: str = "garch"  # garch | ewma: the scale of the conformal scores
    calibration_sessions: int = 250  # rolling window of realized scores per ticker
    aci_gamma: float = 0.01  # adaptive conformal inference step (Gibbs & Candes 2021)
    aci_sessions: int = 500  # sessions replayed to set the level at the as-of

    def __post_init__(self) -> None:
        _check_range("forecast.interval_level", self.interval_level, 0.5, 0.999)
        _check_choice("forecast.volatility", self.volatility, VOLATILITY_MODELS)
        _check_range("forecast.calibration_sessions", self.calibration_sessions, 50, 5000)
        _check_range("forecast.aci_gamma", self.aci_gamma, 0.0, 0.1)
        _check_range("forecast.aci_sessions", self.aci_sessions, 0, 5000)


@dataclasses.dataclass(frozen=True)
class BackfillConfig:
    # Retrain every N sessions during a backfill; forecasts in between use the champion.
    retrain_every: int = 20

    def __post_init__(self) -> None:
        _check_range("backfill.retrain_every", self.retrain_every, 1, 10_000)


@dataclasses.dataclass(frozen=True)
class AirflowConfig:
    train_queue: str = "default"
    train_pool: str = "default_pool"
    warehouse_conn_id: str = "stacklstm_warehouse"
    # The DAGs' owner (shown in the UI, used by notifications).
    owner: str = "stacklstm"
    # The nightly works through at most this many sessions without forecasts per run,
    # looking back at most lookback_sessions validated sessions (older gaps: the backfill).
    max_sessions_per_run: int = 5
    lookback_sessions: int = 20
    # stacklstm_backfill: the longest range one run accepts, and sessions per forecast chunk.
    max_backfill_sessions: int = 260
    forecast_chunk_sessions: int = 20
    # execution_timeout of one training task (a candidate of one as-of).
    train_timeout_minutes: int = 120
    # Failure notifications (off by default): a webhook that gets a JSON POST, and/or the
    # dotted path of a BaseNotifier subclass that takes no arguments (e.g. your SmtpNotifier).
    notify_webhook_url: str = ""
    notifier: str = ""
    # Deadline alert: forecasts published within this many minutes after the nightly run
    # was queued (the prices announcement, ~22:30 UTC); 0 = no deadline.
    publish_deadline_minutes: int = 0

    def __post_init__(self) -> None:
        _check_range("airflow.max_sessions_per_run", self.max_sessions_per_run, 1, 250)
        _check_range("airflow.lookback_sessions", self.lookback_sessions, 1, 2_500)
        _check_range("airflow.max_backfill_sessions", self.max_backfill_sessions, 1, 10_000)
        _check_range("airflow.forecast_chunk_sessions", self.forecast_chunk_sessions, 1, 10_000)
        _check_range("airflow.train_timeout_minutes", self.train_timeout_minutes, 1, 7 * 24 * 60)
        _check_range("airflow.publish_deadline_minutes", self.publish_deadline_minutes, 0,
                     7 * 24 * 60)  # fmt: skip
        if self.notifier and not all(p.isidentifier() for p in self.notifier.split(".")):
            raise ConfigError(
                f"airflow.notifier: expected a dotted path such as "
                f"'mypackage.notifiers.OnCallNotifier', got {self.notifier!r}"
            )
        if self.notify_webhook_url and not self.notify_webhook_url.startswith(
            ("http://", "https://")
        ):
            raise ConfigError(
                f"airflow.notify_webhook_url: expected an http(s) URL, got "
                f"{self.notify_webhook_url!r}"
            )


@dataclasses.dataclass(frozen=True)
class Config:
    universe: UniverseConfig = UniverseConfig()
    source: SourceConfig = dataclasses.field(default_factory=SourceConfig)
    paths: PathsConfig = PathsConfig()
    warehouse: WarehouseConfig = WarehouseConfig()
    validation: ValidationConfig = dataclasses.field(default_factory=ValidationConfig)
    dataset: DatasetConfig = DatasetConfig()
    models: ModelsConfig = ModelsConfig()
    training: TrainingConfig = TrainingConfig()
    selection: SelectionConfig = SelectionConfig()
    forecast: ForecastConfig = ForecastConfig()
    backfill: BackfillConfig = BackfillConfig()
    airflow: AirflowConfig = AirflowConfig()

    @property
    def data_root(self) -> Path:
        return self.paths.data_root

    @property
    def warehouse_url(self) -> str:
        if self.warehouse.url:
            return self.warehouse.url
        return f"duckdb:///{(self.paths.data_root / 'warehouse.duckdb').as_posix()}"

    def replace(self, **sections: Any) -> Config:
        """A copy with whole sections replaced (``cfg.replace(source=...)``)."""
        return dataclasses.replace(self, **sections)

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Read, merge and validate the configuration.

    ``path`` None means ``stacklstm_fin.toml`` in the working directory if it
    exists, else built-in defaults. An explicit path that does not exist is an
    error. ``overrides`` are dotted keys (``{"source.name": "synthetic"}``) that
    win over everything, for the CLI's flags.
    """
    data: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path is None:
        candidate = Path(DEFAULT_CONFIG_FILE)
        path = candidate if candidate.is_file() else None
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"--config: file not found: {file}")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        base_dir = file.resolve().parent
    env = os.environ if env is None else env
    for key, raw in sorted(env.items()):
        if key.startswith(ENV_PREFIX) and "__" in key:
            dotted = key[len(ENV_PREFIX) :].lower().replace("__", ".")
            _set_dotted(data, dotted, _parse_env_value(raw), origin=key)
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value, origin=dotted)
    cfg = _build(Config, data, "")
    # Relative paths are relative to the config file (or the working directory).
    cfg = cfg.replace(paths=PathsConfig(resolve_data_root(cfg.paths.data_root, base_dir)))
    files = cfg.source.files.path
    if files and not Path(files).is_absolute():
        resolved = FilesConfig(path=str((base_dir / files).resolve()))
        cfg = cfg.replace(source=dataclasses.replace(cfg.source, files=resolved))
    return cfg


# --------------------------------------------------------------------------
# helpers


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _set_dotted(data: dict[str, Any], dotted: str, value: Any, *, origin: str) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{origin}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _build(cls: type[Any], data: Any, prefix: str) -> Any:
    where = prefix or "config"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{prefix + '.' if prefix else ''}{unknown[0]}: unknown key; "
            f"expected one of {', '.join(sorted(fields))}"
        )
    kwargs: dict[str, Any] = {}
    missing = []
    for name, field in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            missing.append(key)
    if missing:
        raise ConfigError(f"{missing[0]}: required key is missing")
    try:
        return cls(**kwargs)
    except StackLSTMError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if tp == tuple[tuple[str, str], ...]:  # a TOML table of string -> string
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a table of names, got {value!r}")
        return tuple((str(k), _coerce(str, v, f"{key}.{k}")) for k, v in value.items())
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if isinstance(value, str) and item_tp is str:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if isinstance(item_tp, type) and dataclasses.is_dataclass(item_tp):
            items = []
            for i, v in enumerate(value):
                name = v.get("name", i) if isinstance(v, Mapping) else i
                items.append(_build(item_tp, v, f"{key}[{name}]"))
            return tuple(items)
        return tuple(_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        # Only ``X | None``: TOML has no null, so a value present is an X.
        (item_tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(item_tp, value, key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if tp is Path:
        if isinstance(value, str | Path) and str(value):
            return Path(value)
        raise ConfigError(f"{key}: expected a path, got {value!r}")
    if tp is dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a date YYYY-MM-DD, got {value!r}")
    raise AssertionError(f"unsupported config type {tp}")  # pragma: no cover


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return out
    if (
        isinstance(obj, tuple)
        and obj
        and all(
            isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, str) for x in v) for v in obj
        )
    ):
        return dict(obj)  # ticker_calendars
    if isinstance(obj, tuple | list):
        return [_to_plain(v) for v in obj]
    if isinstance(obj, Path):
        return obj.as_posix()
    if isinstance(obj, dt.date):
        return obj.isoformat()
    return obj
