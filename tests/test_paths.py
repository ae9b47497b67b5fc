"""paths.data_root: refused, one line naming the key, exit 2, nothing written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stacklstm_fin.exceptions import ConfigError
from stacklstm_fin.paths import check_data_root
from tests.cli_run import run_cli
from tests.tmpfs import mounted_tmpfs

SYSTEM = (
    "paths.data_root: expected a folder of its own for the warehouse, snapshots and models, "
    'got {got}, a system folder; set it to e.g. "data" or /var/lib/stacklstm'
)


def _init_db(root: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(["init-db"], cwd, {"STACKLSTM_PATHS__DATA_ROOT": root}, timeout=60)


def _climb_to_etc(tmp_path: Path) -> str:
    return str(tmp_path) + "/.." * len(tmp_path.parts) + "/etc"


@pytest.mark.parametrize(
    ("root", "got"),
    [
        ("/", "'/'"),
        ("/etc", "'/etc'"),
        ("/proc/x", "'/proc/x'"),
        ("/usr/local/stacklstm", "'/usr/local/stacklstm'"),
        ("CLIMB", "'{climb}' (resolves to '/etc')"),
    ],
)
def test_system_folders_are_refused(root: str, got: str, tmp_path: Path) -> None:
    climb = _climb_to_etc(tmp_path)
    root = climb if root == "CLIMB" else root
    done = _init_db(root, tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert (
        done.stderr == "stacklstm-fin: error: " + SYSTEM.format(got=got.format(climb=climb)) + "\n"
    )
    assert not Path("/etc/warehouse.duckdb").exists()
    assert not Path("/warehouse.duckdb").exists()
    assert list(tmp_path.iterdir()) == []


def test_a_file_is_refused_and_nothing_written(tmp_path: Path) -> None:
    file = tmp_path / "afile"
    file.write_text("x")
    for root, tail in [
        (file, ", a file"),
        (file / "sub", f": {str(file)!r} is a file"),
    ]:
        done = _init_db(str(root), tmp_path)
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr == (
            f"stacklstm-fin: error: paths.data_root: expected a folder, got {str(root)!r}{tail}; "
            "point it at a folder (created if missing)\n"
        )
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]
    assert file.read_text() == "x"


def test_a_folder_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        done = _init_db(str(ro / "data"), tmp_path)
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr == (
            f"stacklstm-fin: error: paths.data_root: cannot create {str(ro / 'data')!r}: "
            f"{str(ro)!r} is not writable; point it at a folder you can write to\n"
        )
        assert list(ro.iterdir()) == []


@pytest.mark.parametrize("ok", ["data", "var/lib/stacklstm"])
def test_a_folder_of_its_own_is_accepted(ok: str, tmp_path: Path) -> None:
    check_data_root(tmp_path / ok)
    check_data_root(Path("/var/lib/stacklstm"))
    with pytest.raises(ConfigError):
        check_data_root(Path("/var"))
