from __future__ import annotations

from pathlib import Path

import pytest

from stacklstm_fin.config import Config, load_config
from stacklstm_fin.exceptions import ConfigError, InvalidTickerError

REPO = Path(__file__).resolve().parents[1]


def test_example_file_documents_exactly_the_defaults() -> None:
    cfg = load_config(REPO / "stacklstm_fin.example.toml", env={})
    assert cfg.replace(paths=Config().paths) == Config()
    assert cfg.data_root == REPO / "data"


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={})
    assert cfg.source.name == "sample"
    assert cfg.universe.tickers == ("^GSPC", "^IXIC")
    assert cfg.warehouse_url == f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}"


def test_environment_overrides_file(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[source]\nname = "files"\n[dataset]\nwindow = 10\n')
    cfg = load_config(
        file,
        env={
            "STACKLSTM_SOURCE__NAME": "synthetic",
            "STACKLSTM_UNIVERSE__TICKERS": "AAPL, BRK-B",
            "STACKLSTM_DATASET__HORIZONS": "3",
            "STACKLSTM_WAREHOUSE__URL": "postgresql://u@h/db",
            "OTHER": "ignored",
        },
    )
    assert cfg.source.name == "synthetic"
    assert cfg.universe.tickers == ("AAPL", "BRK-B")
    assert (cfg.dataset.window, cfg.dataset.horizons) == (10, 3)
    assert cfg.warehouse_url == "postgresql://u@h/db"
    assert cfg.data_root == tmp_path / "data"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[source]\nnmae = 1\n",
            "source.nmae: unknown key; expected one of files, name, refresh, synthetic, yfinance",
        ),
        ("[dataset]\nwindow = 'ten'\n", "dataset.window: expected an integer, got 'ten'"),
        ("[dataset]\nwindow = 1\n", "dataset.window: expected a value in [2, 2000], got 1"),
        (
            "[source]\nname = 'bloomberg'\n",
            "source.name: expected one of yfinance, files, sample, synthetic; got 'bloomberg'",
        ),
        (
            "[[models.candidates]]\nfamily = 'gru'\n",
            "models.candidates[0].name: required key is missing",
        ),
        (
            "[[models.candidates]]\nname = 'g'\nfamily = 'gru'\n",
            "models.candidates: a 'random_walk' candidate is required "
            "(it is the reference every model must beat)",
        ),
        (
            "[[models.candidates]]\nname = 'x'\nfamily = 'lstm'\nunits = [8, 8]\n",
            "models.candidates[x].units: family 'lstm' is one layer, got 2 layers; "
            "use family 'stacked_lstm'",
        ),
        (
            "[universe]\ncalendar_start = 'yesterday'\n",
            "universe.calendar_start: expected a date YYYY-MM-DD, got 'yesterday'",
        ),
        (
            "[selection]\nmetric = 'r2'\n",
            "selection.metric: expected one of rmse, mae, mase; got 'r2'",
        ),
        ("dataset = 3\n", "dataset: expected a table, got int"),
        ("[dataset\n", None),
    ],
)
def test_bad_config_is_one_error_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(file, env={})
    if message is None:
        assert str(err.value).startswith(f"{file}: not valid TOML: ")
    else:
        assert str(err.value) == message


def test_bad_ticker_in_config_names_it(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[universe]\ntickers = ["AAPL", "../etc"]\n')
    with pytest.raises(InvalidTickerError, match=r"ticker '\.\./etc': not a valid symbol"):
        load_config(file, env={})


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.toml", env={})
    assert str(err.value) == f"--config: file not found: {tmp_path / 'nope.toml'}"
