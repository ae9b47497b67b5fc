from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stacklstm_fin.exceptions import PartialDownloadError, SnapshotError
from stacklstm_fin.snapshots import (
    SnapshotInfo,
    load_or_fetch,
    read_snapshot,
    read_snapshot_info,
    snapshot_path,
    write_snapshot,
)
from stacklstm_fin.sources.files import FilesSource

AS_OF = dt.date(2024, 1, 4)


def prices(close: float = 10.0, tickers: tuple[str, ...] = ("AAA", "BBB")) -> pl.DataFrame:
    days = [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
    return pl.DataFrame(
        {
            "ticker": [t for t in tickers for _ in days],
            "session_date": days * len(tickers),
            "open": close,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "adj_close": close,
            "volume": 100.0,
        }
    )


def test_path_layout_and_names_that_could_escape_are_refused(tmp_path: Path) -> None:
    assert (
        snapshot_path(tmp_path, "yfinance", AS_OF) == tmp_path / "raw/yfinance/2024-01-04.parquet"
    )

    with pytest.raises(SnapshotError) as err:
        snapshot_path(tmp_path, "../etc", AS_OF)
    assert str(err.value) == (
        "source: expected a name of letters, digits, '_' or '-' (at most 64), got '../etc'"
    )
    with pytest.raises(SnapshotError) as err:
        snapshot_path(tmp_path, "files", dt.datetime(2024, 1, 4, 16, 0))
    assert str(err.value) == "as_of: expected a date, got datetime.datetime(2024, 1, 4, 16, 0)"


def test_write_then_read_back_identical_with_metadata(tmp_path: Path) -> None:
    frame = prices()

    path = write_snapshot(
        tmp_path, "files", AS_OF, frame, tickers=["AAA", "BBB", "ZZZ"],
        failures={"ZZZ": "no rows"}, start=dt.date(2024, 1, 2),
    )  # fmt: skip

    assert path == snapshot_path(tmp_path, "files", AS_OF)
    assert_frame_equal(read_snapshot(tmp_path, "files", AS_OF), frame, check_exact=True)  # type: ignore[arg-type]
    assert read_snapshot_info(tmp_path, "files", AS_OF) == SnapshotInfo(
        path=path, source="files", as_of=AS_OF, tickers=("AAA", "BBB", "ZZZ"),
        failures={"ZZZ": "no rows"}, start=dt.date(2024, 1, 2),
    )  # fmt: skip
    assert sorted(p.name for p in path.parent.iterdir()) == ["2024-01-04.parquet"]


def test_missing_snapshot_reads_as_none(tmp_path: Path) -> None:
    assert read_snapshot(tmp_path, "files", AS_OF) is None
    assert read_snapshot_info(tmp_path, "files", AS_OF) is None


def test_rewrite_replaces_the_file_by_rename_so_open_readers_keep_the_old_one(
    tmp_path: Path,
) -> None:
    path = write_snapshot(tmp_path, "files", AS_OF, prices(10.0))
    with path.open("rb") as reader:
        write_snapshot(tmp_path, "files", AS_OF, prices(20.0))
        old = pl.read_parquet(reader.read())

    assert old["close"].unique().to_list() == [10.0]
    assert read_snapshot(tmp_path, "files", AS_OF)["close"].unique().to_list() == [20.0]  # type: ignore[index]


def test_a_failed_write_leaves_the_old_snapshot_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_snapshot(tmp_path, "files", AS_OF, prices(10.0))

    def disk_error(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", disk_error)  # the OS fails, not our code
    with pytest.raises(OSError, match="Input/output error"):
        write_snapshot(tmp_path, "files", AS_OF, prices(20.0))
    monkeypatch.undo()

    assert read_snapshot(tmp_path, "files", AS_OF)["close"].unique().to_list() == [10.0]  # type: ignore[index]
    assert [p.name for p in path.parent.iterdir()] == ["2024-01-04.parquet"]


def test_rows_after_the_as_of_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError) as err:
        write_snapshot(tmp_path, "files", dt.date(2024, 1, 3), prices())

    assert str(err.value) == (
        "snapshot files 2024-01-03: expected rows on or before the as-of, "
        "got 2 later row(s) (first 2024-01-04)"
    )
    assert not snapshot_path(tmp_path, "files", dt.date(2024, 1, 3)).exists()


def test_a_corrupt_snapshot_is_reported(tmp_path: Path) -> None:
    path = snapshot_path(tmp_path, "files", AS_OF)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not parquet")

    with pytest.raises(SnapshotError) as err:
        read_snapshot(tmp_path, "files", AS_OF)

    assert str(err.value) == (
        f"snapshot {path}: unreadable (parquet: File out of specification: A Parquet file must "
        "contain a header and footer with at least 12 bytes); delete it or fetch again with refresh"
    )


@pytest.fixture
def price_file(tmp_path: Path) -> Path:
    path = tmp_path / "vendor" / "prices.parquet"
    path.parent.mkdir()
    prices(10.0).write_parquet(path)
    return path


def test_load_or_fetch_reuses_the_snapshot_until_refresh(price_file: Path, tmp_path: Path) -> None:
    source, root = FilesSource(price_file), tmp_path / "data"

    first = load_or_fetch(source, root, AS_OF, ["AAA"], None)
    prices(20.0).write_parquet(price_file)  # the vendor's data changes afterwards
    again = load_or_fetch(source, root, AS_OF, ["AAA"], None)
    refreshed = load_or_fetch(source, root, AS_OF, ["AAA"], None, refresh=True)

    assert (first.reused, again.reused, refreshed.reused) == (False, True, False)
    assert first.path == again.path == snapshot_path(root, "files", AS_OF)
    assert_frame_equal(again.prices, first.prices, check_exact=True)
    assert first.prices["close"].unique().to_list() == [10.0]
    assert refreshed.prices["close"].unique().to_list() == [20.0]
    assert read_snapshot(root, "files", AS_OF)["close"].unique().to_list() == [20.0]  # type: ignore[index]


def test_a_snapshot_lacking_a_ticker_or_history_is_fetched_again(
    price_file: Path, tmp_path: Path
) -> None:
    source, root = FilesSource(price_file), tmp_path / "data"
    load_or_fetch(source, root, AS_OF, ["AAA"], dt.date(2024, 1, 3))

    subset = load_or_fetch(source, root, AS_OF, ["AAA"], dt.date(2024, 1, 4))
    more_tickers = load_or_fetch(source, root, AS_OF, ["AAA", "BBB"], dt.date(2024, 1, 3))
    more_history = load_or_fetch(source, root, AS_OF, ["AAA", "BBB"], None)

    assert subset.reused and subset.prices["session_date"].to_list() == [AS_OF]
    assert not more_tickers.reused and more_tickers.prices.height == 4
    assert not more_history.reused and more_history.prices.height == 6
    info = read_snapshot_info(root, "files", AS_OF)
    assert info is not None and (info.tickers, info.start) == (("AAA", "BBB"), None)


def test_failures_write_nothing_unless_allowed_and_are_fetched_again(
    price_file: Path, tmp_path: Path
) -> None:
    source, root = FilesSource(price_file), tmp_path / "data"

    with pytest.raises(PartialDownloadError):
        load_or_fetch(source, root, AS_OF, ["AAA", "ZZZ"], None)
    assert read_snapshot_info(root, "files", AS_OF) is None

    partial = load_or_fetch(source, root, AS_OF, ["AAA", "ZZZ"], None, allow_partial=True)
    info = read_snapshot_info(root, "files", AS_OF)
    assert partial.failures == {"ZZZ": f"no rows in {price_file}"}
    assert info is not None and info.failures == partial.failures

    pl.concat([prices(10.0), prices(30.0, ("ZZZ",))]).write_parquet(price_file)
    healed = load_or_fetch(source, root, AS_OF, ["AAA", "ZZZ"], None)
    assert not healed.reused and healed.failures == {}
    assert healed.prices.get_column("ticker").unique(maintain_order=True).to_list() == [
        "AAA",
        "ZZZ",
    ]


def test_a_start_after_the_as_of_fetches_and_writes_nothing(
    price_file: Path, tmp_path: Path
) -> None:
    source, root = FilesSource(price_file), tmp_path / "data"
    load_or_fetch(source, root, AS_OF, ["AAA"], None)

    up_to_date = load_or_fetch(source, root, AS_OF, ["AAA", "BBB"], AS_OF + dt.timedelta(days=1))

    assert (up_to_date.prices.height, up_to_date.failures, up_to_date.reused) == (0, {}, False)
    info = read_snapshot_info(root, "files", AS_OF)
    assert info is not None and info.tickers == ("AAA",)
