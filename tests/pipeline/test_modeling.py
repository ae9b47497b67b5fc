"""Train -> select -> export -> forecast on real parts (Keras, ONNX Runtime, DuckDB).

One small run on a synthetic AR(1) universe with a known accuracy limit is
made once per module; tests that change the warehouse work on a copy of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stacklstm_fin.config import Config, load_config
from stacklstm_fin.exceptions import ArtifactIntegrityError
from stacklstm_fin.pipeline import promotion
from stacklstm_fin.pipeline.modeling import RESULT_FILE, prepare_dataset, train_one
from stacklstm_fin.pipeline.run import run_all
from stacklstm_fin.registry import champion_as_of
from stacklstm_fin.sources.synthetic import best_one_step_rmse
from stacklstm_fin.warehouse import connect, migrate

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2016, 12, 30)
LATER = dt.date(2017, 1, 31)
TICKERS = ["SYN0001", "SYN0002", "SYN0003", "SYN0004", "SYN0005", "SYN0006"]
CANDIDATES = [
    {"name": "stacked_lstm", "family": "stacked_lstm", "units": [8, 8]},
    {"name": "gru", "family": "gru", "units": [8]},
    {"name": "lstm", "family": "lstm", "units": [8]},
    {"name": "random_walk", "family": "random_walk"},
    {"name": "ewma", "family": "ewma", "span": 10},
]
SETTINGS = {
    "universe.tickers": TICKERS,
    "source.name": "synthetic",
    "source.synthetic.start": "2012-01-03",
    "source.synthetic.phi": 0.6,
    "dataset.window": 8,
    "dataset.horizons": 1,
    "dataset.test_sessions": 120,
    "dataset.validation_sessions": 120,
    "dataset.volatility_window": 10,
    "training.epochs": 6,
    "training.batch_size": 128,
    "training.learning_rate": 0.003,
    "training.patience": 2,
    "selection.horizon": 1,
    "models.candidates": CANDIDATES,
}


def make_config(root: Path, url: str | None = None, **extra: object) -> Config:
    overrides = {**SETTINGS, "paths.data_root": str(root / "data"), **extra}
    overrides["warehouse.url"] = url or f"duckdb:///{root / 'data' / 'warehouse.duckdb'}"
    return load_config(None, env={}, overrides=overrides)


def snapshot(url: str) -> dict[str, tuple[int, str]]:
    """Row count and content hash of every table (order-independent)."""
    out = {}
    with connect(url) as wh:
        for table in ("prices_daily", "validation_runs", "model_registry", "model_metrics",
                      "forecasts", "prices_quarantine", "publication_decisions"):  # fmt: skip
            frame = wh.query(f"SELECT * FROM stacklstm.{table}")
            rows = sorted(repr(r) for r in frame.rows())
            out[table] = (frame.height, hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse after one full run as of AS_OF (do not modify: copy it)."""
    root = tmp_path_factory.mktemp("base")
    cfg = make_config(root)
    with connect(cfg.warehouse_url) as wh:
        migrate(wh)
        run_all(cfg, wh, AS_OF)
    return root


@pytest.fixture
def copy(base: Path, tmp_path: Path) -> Iterator[Path]:
    shutil.copytree(base / "data", tmp_path / "data")
    yield tmp_path


def test_run_leaves_candidates_champion_forecasts_and_views(base: Path) -> None:
    cfg = make_config(base)
    with connect(cfg.warehouse_url, read_only=True) as wh:
        registry = wh.query(
            "SELECT model_id, family, status, onnx, onnx_sha256, parity_max_abs_diff, "
            "data_hash, code_version, package_versions FROM stacklstm.model_registry"
        )
        board = wh.query("SELECT * FROM stacklstm.model_leaderboard ORDER BY rank")
        forecasts = wh.query("SELECT * FROM stacklstm.latest_forecasts ORDER BY ticker")
        accuracy = wh.query("SELECT * FROM stacklstm.forecast_accuracy")
        metrics = wh.query(
            "SELECT m.value, r.family FROM stacklstm.model_metrics m JOIN "
            "stacklstm.model_registry r USING (model_id) "
            "WHERE split = 'test' AND ticker = '*' AND horizon = 1 AND metric = 'rmse'"
        )
    assert sorted(registry["family"]) == sorted(c["family"] for c in CANDIDATES)
    champions = registry.filter(pl.col("status") == "champion")
    assert champions.height == 1
    champ = champions.row(0, named=True)
    assert hashlib.sha256(champ["onnx"]).hexdigest() == champ["onnx_sha256"]
    assert champ["parity_max_abs_diff"] <= 1e-4
    onnx_file = base / "data" / "models" / f"{champ['model_id']}.onnx"
    assert onnx_file.read_bytes() == champ["onnx"]
    assert {"keras", "onnxruntime", "polars"} <= set(json.loads(champ["package_versions"]))
    # The random walk stays a candidate: it publishes wherever the champion lacks evidence.
    assert set(registry["status"]) <= {"champion", "rejected", "candidate"}
    rw_status = registry.filter(pl.col("family") == "random_walk")["status"].to_list()
    assert rw_status == ["candidate"]
    assert forecasts["ticker"].to_list() == TICKERS
    assert set(forecasts["model_id"]) == {champ["model_id"]}
    assert (forecasts["lower_close"] < forecasts["yhat_close"]).all()
    assert (forecasts["yhat_close"] < forecasts["upper_close"]).all()
    assert forecasts["target_date"].to_list() == [dt.date(2017, 1, 3)] * len(TICKERS)
    assert board.height == len(CANDIDATES) and board["rank"][0] == 1
    # Every forecast shows, pending: prices end at the as-of.
    assert accuracy.height == len(TICKERS) and set(accuracy["state"]) == {"pending"}

    # Accuracy against the known limit of the generator.
    rmse = dict(zip(metrics["family"], metrics["value"], strict=True))
    best_neural = min(rmse[f] for f in ("stacked_lstm", "gru", "lstm"))
    limit = best_one_step_rmse(make_config(base))
    assert best_neural <= 1.05 * limit, (best_neural, limit)
    assert rmse["random_walk"] >= 1.15 * limit, (rmse["random_walk"], limit)
    assert champ["family"] in ("stacked_lstm", "gru", "lstm")


def test_rerun_changes_no_published_row(copy: Path) -> None:
    cfg = make_config(copy)
    before = snapshot(cfg.warehouse_url)
    with connect(cfg.warehouse_url) as wh:
        result = run_all(cfg, wh, AS_OF)
    assert result["selection"]["reason"] == "already champion"
    assert snapshot(cfg.warehouse_url) == before


def test_worse_challenger_leaves_the_champion(copy: Path) -> None:
    # Next month the grid holds only baselines: none beats the neural champion.
    cfg = make_config(copy, **{"models.candidates": CANDIDATES[3:]})
    with connect(cfg.warehouse_url) as wh:
        old = champion_as_of(wh, AS_OF)
        assert old is not None
        result = run_all(cfg, wh, LATER)
        new = champion_as_of(wh, LATER)
        statuses = dict(wh.query(
            "SELECT candidate, status_reason FROM stacklstm.model_registry WHERE as_of = :d",
            {"d": LATER},
        ).rows())  # fmt: skip
        published = wh.query(
            "SELECT DISTINCT model_id FROM stacklstm.forecasts WHERE as_of_date = :d", {"d": LATER}
        )
    assert new is not None and new["model_id"] == old["model_id"]
    assert result["selection"]["promoted"] is False
    challenger = result["selection"]["ranking"][0][0]
    assert statuses[challenger].startswith(
        f"not significantly better than champion {old['model_id']} on the same"
    ), statuses[challenger]
    assert published["model_id"].to_list() == [old["model_id"]]


def test_an_earlier_as_of_after_a_later_one_is_refused_in_one_line(copy: Path) -> None:
    cfg = make_config(copy)
    with connect(cfg.warehouse_url) as wh:
        run_all(cfg, wh, LATER)
        before = snapshot(cfg.warehouse_url)
    middle = dt.date(2017, 1, 13)
    args = [sys.executable, "-m", "stacklstm_fin.cli", "run", "--as-of", middle.isoformat()]
    env = {**os.environ, "STACKLSTM_PATHS__DATA_ROOT": str(cfg.data_root),
           "STACKLSTM_WAREHOUSE__URL": cfg.warehouse_url}  # fmt: skip
    overrides = copy / "cfg.toml"
    overrides.write_text(_toml(SETTINGS))
    out = subprocess.run([*args, "--config", str(overrides)], env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"stacklstm-fin: error: as-of {middle}: the later as-of {LATER} is already trained; "
        f"trainings run in date order (run {middle} before {LATER}, e.g. in a fresh "
        f"warehouse), or forecast {middle} with `stacklstm-fin forecast` and the champion of "
        "its time"
    ]
    assert snapshot(cfg.warehouse_url) == before  # nothing written


def test_diverging_candidates_are_rejected_with_reason(copy: Path) -> None:
    cfg = make_config(copy, **{"training.divergence_loss": 1e-6})
    with connect(cfg.warehouse_url) as wh:
        run_all(cfg, wh, LATER)
        rows = dict(wh.query(
            "SELECT family, status || ': ' || status_reason FROM stacklstm.model_registry "
            "WHERE as_of = :d", {"d": LATER},
        ).rows())  # fmt: skip
    for family in ("stacked_lstm", "gru", "lstm"):
        assert rows[family].startswith("rejected: loss diverged at epoch 1: "), rows[family]


def test_candidate_failing_parity_is_not_promoted(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A zero tolerance: every neural export (parity ~1e-7) fails, baselines (exact) pass.
    monkeypatch.setattr(promotion, "PARITY_TOLERANCE", 0.0)
    cfg = make_config(copy)
    with connect(cfg.warehouse_url) as wh:
        old = champion_as_of(wh, AS_OF)
        result = run_all(cfg, wh, LATER)
        reasons = wh.query(
            "SELECT family, status, status_reason, parity_max_abs_diff "
            "FROM stacklstm.model_registry WHERE as_of = :d AND onnx IS NOT NULL", {"d": LATER}
        )  # fmt: skip
    neural = reasons.filter(pl.col("family").is_in(["stacked_lstm", "gru", "lstm"]))
    assert neural.height >= 1
    for row in neural.iter_rows(named=True):
        assert row["status"] == "rejected"
        assert row["status_reason"].startswith(f"ONNX parity {row['parity_max_abs_diff']:.3g} "
                                               "exceeds 0 on the test windows")  # fmt: skip
    assert result["selection"]["champion"] == old["model_id"]  # a baseline did not beat it


def test_kill_between_export_and_promotion_keeps_old_champion(copy: Path) -> None:
    cfg = make_config(copy)
    env = {**os.environ, "STACKLSTM_PATHS__DATA_ROOT": str(cfg.data_root),
           "STACKLSTM_WAREHOUSE__URL": cfg.warehouse_url}  # fmt: skip
    overrides = Path(copy / "cfg.toml")
    overrides.write_text(_toml(SETTINGS))
    args = [sys.executable, "-m", "stacklstm_fin.cli", "run", "--config", str(overrides),
            "--as-of", LATER.isoformat()]  # fmt: skip
    killed = subprocess.run(args, env={**env, "STACKLSTM_FAULT_POINT": "select.before_promotion"},
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-2000:]
    with connect(cfg.warehouse_url) as wh:
        live = champion_as_of(wh, LATER)
        old = champion_as_of(wh, AS_OF)
        assert live is not None and old is not None and live["model_id"] == old["model_id"]
        assert wh.scalar(
            "SELECT COUNT(*) FROM stacklstm.forecasts WHERE as_of_date = :d", {"d": LATER}
        ) == 0  # fmt: skip
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    with connect(cfg.warehouse_url) as wh:
        assert wh.scalar(
            "SELECT COUNT(*) FROM stacklstm.forecasts WHERE as_of_date = :d", {"d": LATER}
        ) == len(TICKERS)  # fmt: skip
        assert wh.scalar("SELECT COUNT(*) FROM stacklstm.model_registry "
                         "WHERE status = 'champion'") == 1  # fmt: skip


def test_tampered_onnx_is_refused(copy: Path) -> None:
    cfg = make_config(copy)
    from stacklstm_fin.pipeline.publish import forecast

    with connect(cfg.warehouse_url) as wh:
        champ = champion_as_of(wh, AS_OF)
        assert champ is not None
        tampered = champ["onnx"][:-1] + bytes([champ["onnx"][-1] ^ 1])
        wh.execute("UPDATE stacklstm.model_registry SET onnx = :b WHERE model_id = :m",
                   {"b": tampered, "m": champ["model_id"]})  # fmt: skip
        with pytest.raises(ArtifactIntegrityError) as err:
            forecast(cfg, wh, AS_OF)
    got = hashlib.sha256(tampered).hexdigest()
    assert str(err.value) == (
        f"ONNX file <bytes>: sha256 {got} does not match the registry's "
        f"{champ['onnx_sha256']}; refusing to load"
    )


def test_same_seed_data_and_config_give_identical_metrics(base: Path, tmp_path: Path) -> None:
    results = []
    for name in ("a", "b"):
        shutil.copytree(base / "data", tmp_path / name / "data")
        shutil.rmtree(tmp_path / name / "data" / "runs")
        cfg = make_config(tmp_path / name)
        with connect(cfg.warehouse_url) as wh:
            run = prepare_dataset(cfg, wh, AS_OF)
        train_one(cfg, run, "stacked_lstm")
        results.append(json.loads((run.candidate_dir("stacked_lstm") / RESULT_FILE).read_text()))
    assert results[0]["metrics"] == results[1]["metrics"]
    assert results[0]["model_id"] == results[1]["model_id"]
    assert np.isfinite(results[0]["score"])


def test_future_prices_change_nothing_as_of(base: Path, tmp_path: Path) -> None:
    """No leakage: every price after the as-of changed, same dataset, metrics, forecasts."""
    cfg = make_config(base)
    with connect(cfg.warehouse_url, read_only=True) as wh:
        prices = wh.query("SELECT ticker, session_date, open, high, low, close, adj_close, "
                          "volume FROM stacklstm.prices_daily")  # fmt: skip
    from stacklstm_fin.sources.synthetic import SyntheticSource

    future = SyntheticSource.from_config(make_config(base, **{"source.synthetic.seed": 99}))
    later = future.fetch(TICKERS, AS_OF + dt.timedelta(days=1), LATER).prices
    path = tmp_path / "prices.parquet"
    pl.concat([prices, later.with_columns(pl.col("volume") * 3)]).write_parquet(path)
    skip = shutil.ignore_patterns("*.duckdb*", "runs", "models")  # retrain and re-export
    shutil.copytree(base / "data", tmp_path / "data", ignore=skip)
    cfg2 = make_config(tmp_path, **{"source.name": "files", "source.files.path": str(path)})
    with connect(cfg2.warehouse_url) as wh:
        migrate(wh)
        from stacklstm_fin.pipeline.ingest import ingest

        ingest(cfg2, wh, LATER)  # the warehouse now holds a different future
        run_all(cfg2, wh, AS_OF)
    query = ("SELECT * EXCLUDE (published_at) FROM stacklstm.forecasts WHERE as_of_date = "
             "'2016-12-30' ORDER BY ticker, horizon")  # fmt: skip
    reg = "SELECT model_id, data_hash, metrics FROM stacklstm.model_registry ORDER BY model_id"
    with connect(cfg.warehouse_url, read_only=True) as a, connect(cfg2.warehouse_url) as b:
        assert a.query(query).rows() == b.query(query).rows()
        rows_a, rows_b = a.query(reg).rows(), b.query(reg).rows()
    strip = {"train_seconds"}  # wall time is the one thing allowed to differ
    for ra, rb in zip(rows_a, rows_b, strict=True):
        assert ra[:2] == rb[:2]
        ma, mb = json.loads(ra[2]), json.loads(rb[2])
        assert {k: v for k, v in ma.items() if k not in strip} == {
            k: v for k, v in mb.items() if k not in strip
        }


def _toml(settings: dict[str, object]) -> str:
    sections: dict[str, dict[str, object]] = {}
    lines = []
    for key, value in settings.items():
        if key == "models.candidates":
            continue
        *path, leaf = key.split(".")
        sections.setdefault(".".join(path), {})[leaf] = value
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    for cand in settings["models.candidates"]:  # type: ignore[attr-defined]
        lines.append("[[models.candidates]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in cand.items()]
    return "\n".join(lines) + "\n"


def test_forecast_step_runs_without_tensorflow(base: Path) -> None:
    """Publishing needs onnxruntime and the registry only: no TensorFlow, no Keras."""
    settings = {**SETTINGS, "paths.data_root": str(base / "data"),
                "warehouse.url": f"duckdb:///{base / 'data' / 'warehouse.duckdb'}"}  # fmt: skip
    code = (
        "import sys, datetime as dt\n"
        "from stacklstm_fin.config import load_config\n"
        "from stacklstm_fin.pipeline.publish import forecast\n"
        "from stacklstm_fin.warehouse import connect\n"
        f"cfg = load_config(None, env={{}}, overrides={settings!r})\n"
        "with connect(cfg.warehouse_url, read_only=True) as wh:\n"
        f"    frame, info = forecast(cfg, wh, dt.date.fromisoformat({AS_OF.isoformat()!r}))\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules)\n"
        "print(frame.height, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == f"{len(TICKERS)} []"


def test_backfill_forwards_and_backwards_publish_the_same(base: Path, tmp_path: Path) -> None:
    from stacklstm_fin.pipeline.run import backfill

    frames = []
    for name, backwards in (("fwd", False), ("bwd", True)):
        shutil.copytree(base / "data", tmp_path / name / "data")
        cfg = make_config(tmp_path / name)
        with connect(cfg.warehouse_url) as wh:
            summary = backfill(cfg, wh, dt.date(2017, 1, 3), dt.date(2017, 1, 6),
                               retrain_every=3, backwards=backwards)  # fmt: skip
            frames.append([
                wh.query("SELECT * EXCLUDE (published_at) FROM stacklstm.forecasts "
                         "ORDER BY as_of_date, ticker, horizon").rows(),
                wh.query("SELECT * EXCLUDE (decided_at) FROM stacklstm.publication_decisions "
                         "ORDER BY as_of, ticker").rows(),
                wh.query("SELECT * FROM stacklstm.model_metrics "
                         "ORDER BY model_id, split, ticker, horizon, metric").rows(),
            ])  # fmt: skip
            prices = wh.scalar("SELECT MAX(session_date) FROM stacklstm.prices_daily")
        assert summary["sessions"] == 4 and summary["retrained"] == ["2017-01-03", "2017-01-06"]
        assert prices == dt.date(2017, 1, 6)
    assert frames[0] == frames[1]
    assert len({row[1] for row in frames[0][0]}) == 5  # AS_OF plus the four sessions
    assert len({row[0] for row in frames[0][1]}) == 3  # AS_OF and the two retrain dates


@pytest.mark.postgres
def test_full_run_on_postgresql_is_idempotent(pg_url: str, tmp_path: Path) -> None:
    cfg = make_config(tmp_path, pg_url, **{"training.epochs": 2, "models.candidates": [
        CANDIDATES[2], CANDIDATES[3], CANDIDATES[4]]})  # fmt: skip
    with connect(pg_url) as wh:
        migrate(wh)
        first = run_all(cfg, wh, AS_OF)
    before = snapshot(pg_url)
    with connect(pg_url) as wh:
        second = run_all(cfg, wh, AS_OF)
        board = wh.query("SELECT candidate, status FROM stacklstm.model_leaderboard")
        latest = wh.query("SELECT ticker, horizon FROM stacklstm.latest_forecasts")
        accuracy = wh.query("SELECT * FROM stacklstm.forecast_accuracy")
        champ = champion_as_of(wh, AS_OF)
    assert snapshot(pg_url) == before
    assert second["selection"]["champion"] == first["selection"]["champion"]
    assert champ is not None and hashlib.sha256(champ["onnx"]).hexdigest() == champ["onnx_sha256"]
    assert sorted(board["candidate"]) == ["ewma", "lstm", "random_walk"]
    assert latest.height == len(TICKERS)
    assert accuracy.height == len(TICKERS) and set(accuracy["state"]) == {"pending"}
