"""Operating-system faults: one line on stderr, exit 2, no temporary file left behind."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from stacklstm_fin import atomic, cli
from stacklstm_fin.atomic import atomic_writer, os_fault
from stacklstm_fin.exceptions import os_error_message
from tests.cli_run import run_cli
from tests.tmpfs import mounted_tmpfs

AS_OF = "2018-06-01"


def test_os_error_message_names_path_and_errno() -> None:
    exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/x.parquet")
    assert os_error_message(exc) == "/data/x.parquet: No space left on device (errno 28 ENOSPC)"
    exc = OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b")
    assert os_error_message(exc) == "/a -> /b: Invalid cross-device link (errno 18 EXDEV)"
    assert os_error_message(PermissionError("denied")) == "operating system: denied"


def test_a_writer_error_naming_an_os_error_becomes_that_oserror(tmp_path: Path) -> None:
    target = tmp_path / "snap.parquet"
    with pytest.raises(OSError) as err, atomic_writer(target):
        raise pl.exceptions.ComputeError(
            "parquet: File out of specification: underlying IO error: "
            "No space left on device (os error 28)"
        )
    assert (err.value.errno, err.value.filename) == (errno.ENOSPC, str(target))
    assert list(tmp_path.iterdir()) == []
    assert os_fault(ValueError("no errno here"), target) is None
    assert os_fault(OSError(28, "x", "/elsewhere"), target) is None  # names its file already
    named = os_fault(OSError(errno.ENOSPC, "No space left on device"), target)
    assert named is not None and (named.errno, named.filename) == (errno.ENOSPC, str(target))


def test_enospc_at_fsync_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "old").write_bytes(b"old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError) as err:
        atomic.write_bytes_atomic(tmp_path / "old", b"new")
    assert (err.value.errno, err.value.filename) == (errno.ENOSPC, str(tmp_path / "old"))
    assert [p.name for p in tmp_path.iterdir()] == ["old"]
    assert (tmp_path / "old").read_bytes() == b"old"


@pytest.mark.parametrize(
    ("fault", "line"),
    [
        (
            OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/d/features.npz"),
            "/d/features.npz: No space left on device (errno 28 ENOSPC)",
        ),
        (
            PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/d/models"),
            "/d/models: Permission denied (errno 13 EACCES)",
        ),
        (
            OSError(errno.EROFS, os.strerror(errno.EROFS), "/d/raw"),
            "/d/raw: Read-only file system (errno 30 EROFS)",
        ),
    ],
)
def test_cli_maps_oserror_to_one_line_exit_2(
    fault: OSError,
    line: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fail(args: object, cfg: object) -> None:
        raise fault

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_cmd_ingest", fail)
    assert cli.main(["ingest", "--source", "sample"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"stacklstm-fin: error: {line}\n")


# ---------------------------------------------------------------- a real full disk


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path / "tmpfs", "size=3m") as folder:
        yield folder


def _fill(folder: Path, leave: int) -> Path:
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(free - leave, 0))
    return filler


def _prices(root: Path) -> pl.DataFrame:
    import duckdb

    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return con.sql(
            "SELECT ticker, session_date, open, high, low, close, adj_close, volume, source "
            "FROM stacklstm.prices_daily ORDER BY ticker, session_date"
        ).pl()


def _ingest(root: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"STACKLSTM_PATHS__DATA_ROOT": str(root)}
    return run_cli(["ingest", "--source", "sample", "--as-of", AS_OF], cwd, env)


def test_full_disk_is_one_line_then_a_rerun_equals_a_clean_run(
    tiny_tmpfs: Path, tmp_path: Path
) -> None:
    root = tiny_tmpfs / "data"
    env = {"STACKLSTM_PATHS__DATA_ROOT": str(root)}
    assert run_cli(["init-db"], tmp_path, env).returncode == 0
    snapshot = root / "raw" / "sample" / f"{AS_OF}.parquet"
    before = sorted(p.name for p in root.rglob("*") if p.is_file())

    # Room for neither the snapshot (about 230 kB) nor the warehouse's log.
    filler = _fill(tiny_tmpfs, leave=64 * 1024)
    done = _ingest(root, tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"stacklstm-fin: error: {snapshot}: No space left on device (errno 28 ENOSPC)\n"
    )
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == before

    # Room for the snapshot, not for the warehouse's write-ahead log.
    filler.unlink()
    filler = _fill(tiny_tmpfs, leave=360 * 1024)
    done = _ingest(root, tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"stacklstm-fin: error: warehouse duckdb:///{root}/")
    assert "No space left on device" in done.stderr
    assert done.stderr.count("\n") == 1
    assert not [p for p in root.rglob(".*") if p.is_file()]  # no temporary file

    filler.unlink()
    rerun = _ingest(root, tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    clean = tmp_path / "clean"
    assert (
        run_cli(["init-db"], tmp_path, {"STACKLSTM_PATHS__DATA_ROOT": str(clean)}).returncode == 0
    )
    assert _ingest(clean, tmp_path).returncode == 0
    assert _prices(root).equals(_prices(clean))
    assert _prices(root).height == 9770


@pytest.mark.postgres
def test_read_only_data_root_is_one_line_and_writes_nothing(pg_url: str, tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as folder:
        env = {"STACKLSTM_PATHS__DATA_ROOT": str(folder), "STACKLSTM_WAREHOUSE__URL": pg_url}
        assert run_cli(["init-db"], tmp_path, env).returncode == 0
        done = run_cli(["ingest", "--source", "sample", "--as-of", AS_OF], tmp_path, env)
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr == (
            f"stacklstm-fin: error: {folder / 'raw'}: Read-only file system (errno 30 EROFS)\n"
        )
        assert list(folder.iterdir()) == []
        duck = {"STACKLSTM_PATHS__DATA_ROOT": str(folder)}
        done = run_cli(["init-db"], tmp_path, duck)
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr == (
            f"stacklstm-fin: error: warehouse {folder}/warehouse.duckdb: IO Error: Cannot open "
            f'file "{folder}/warehouse.duckdb": Read-only file system\n'
        )


def test_run_on_a_full_disk_is_one_line_and_leaves_no_temporary_file(
    tiny_tmpfs: Path, tmp_path: Path
) -> None:
    import re

    root = tiny_tmpfs / "data"
    env = {"STACKLSTM_PATHS__DATA_ROOT": str(root)}
    assert run_cli(["init-db"], tmp_path, env).returncode == 0
    assert _ingest(root, tmp_path).returncode == 0
    _fill(tiny_tmpfs, leave=64 * 1024)  # the dataset (about 5 MB) cannot be stored
    done = run_cli(["run", "--source", "sample", "--as-of", AS_OF], tmp_path, env, timeout=300)
    assert (done.returncode, done.stdout) == (2, "")
    pattern = (
        rf"stacklstm-fin: error: {re.escape(str(root))}/runs/{AS_OF}-[0-9a-f]+/dataset\.npz: "
        r"No space left on device \(errno 28 ENOSPC\)\n"
    )
    assert re.fullmatch(pattern, done.stderr), done.stderr
    assert not [p for p in tiny_tmpfs.rglob(".*")]
