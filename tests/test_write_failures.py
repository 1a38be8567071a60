"""Issue 8: a full disk or a read-only master folder gives a clear Chinese error, no partial master.

The failures are real, not mocked: the run is ``sheetsync consolidate --job`` in a child process
(tests/killing.py) whose writes the kernel refuses.

* File-size limit (EFBIG): ``RLIMIT_FSIZE`` set in the child below the size of a master but
  above every other file the night writes (feedback, archived copies, logs). The register is
  on PostgreSQL here, so it lives in the server's files, outside the child's limit (a SQLite
  register of this drive is larger than its master, so no limit separates the two).
* Full disk (ENOSPC): the master folder is a tmpfs with room for the old master only, mounted
  in a private mount namespace (``unshare -rm``); skipped where user namespaces are not allowed.
* Read-only master folder: mode 0555 (EACCES); as root (CI), where a mode stops nothing (and
  ``nobody`` may not reach the interpreter), a read-only bind mount in a private mount
  namespace (EROFS).

What must hold each time, as decided in :mod:`sheetsync.consolidate`: the night's data is
committed (the register was written before the master, and the failure of a view must not cost
the data), the files are archived as usual, the run exits 2 (failed: a scheduler alerts and its
catch-up run writes the master) with a Chinese message naming the master, the old master is
untouched and no temporary file is left; the next run with room writes the master.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import openpyxl
import pytest
from xlsxwriter.exceptions import FileCreateError

from sheetsync.consolidate import MasterNotWritten
from sheetsync.job import load_job
from sheetsync.job_run import run_job
from sheetsync.master_files import stale_temporaries, write_error_message
from sheetsync.runlog import read_run_records
from tests.killing import (
    MASTER_NAME,
    ChildRun,
    add_second_night,
    inbox_hashes,
    make_drive,
    register_dump,
    run_child,
    sha256,
)
from tests.postgres import postgres_url_fixture  # noqa: F401  (fixture)

AS_OF_TEXT = "2014-11-30"


def night_one(root: Path, register_url: str | None = None) -> Path:
    job = make_drive(root, register_url)
    assert run_job(load_job(job)).exit_code == 0
    add_second_night(root)
    return job


def assert_master_failed_safely(root: Path, url: str, child: ChildRun, old_master: str, reason: str) -> None:
    """Exit 2 with the reason, data committed, files archived, old master kept, nothing left over."""
    master = root / "master" / MASTER_NAME
    assert child.returncode == 2, child.stderr
    output = child.stdout + child.stderr
    assert reason in output and "总台账未能生成" in output and str(master) in output.replace("\n", "")
    assert "Traceback" not in output
    record = read_run_records(load_job(root / "sync_jobs" / "job.toml").layout)[-1]
    assert record.status == "failed" and reason in (record.error or "") and record.master is None
    dump = register_dump(url)
    assert len(dump["runs"]) == 2  # night 2 is committed, with its run record
    assert {row["file_name"] for row in dump["submissions"]} >= {"inbox/海珠区/海珠区_11月.xlsx"}
    assert inbox_hashes(root) == {}  # answered and archived as on any night
    assert sha256(master) == old_master
    assert stale_temporaries(master) == []


def test_a_file_size_limit_stops_the_master_not_the_data(tmp_path: Path, postgres_url: str) -> None:
    root = tmp_path / "drive"
    job = night_one(root, postgres_url)
    master = root / "master" / MASTER_NAME
    old_master = sha256(master)
    limit = master.stat().st_size // 2
    written = [path for path in root.rglob("*") if path.is_file() and master.parent not in path.parents]
    assert max(path.stat().st_size for path in written) < limit  # only a master (or its copy) goes past it

    child = run_child(job, fsize=limit)

    assert_master_failed_safely(root, postgres_url, child, old_master, "文件超过了系统允许的大小上限")
    assert run_job(load_job(job)).exit_code == 0  # no limit: the master is written
    assert openpyxl.load_workbook(master, read_only=True).sheetnames[0]


def _namespaces_allowed() -> bool:
    try:
        done = subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


# mounts a tmpfs of size $1 on the master folder $2, copies the old master $3 in, runs the rest,
# and shows what the tmpfs holds afterwards (it disappears with the namespace)
FULL_DISK = """
dir=$2
mount -t tmpfs -o size=$1 tmpfs "$dir" && cp "$3" "$dir/总台账.xlsx" || exit 99
shift 3
"$@"
code=$?
echo "LEFT IN MASTER FOLDER: $(ls -A "$dir" | tr '\\n' '/')"
echo "MASTER HASH: $(sha256sum "$dir/总台账.xlsx" | cut -d' ' -f1)"
exit $code
"""
# makes the master folder $1 a read-only bind mount of itself, then runs the rest
READ_ONLY = """
mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 99
shift
exec "$@"
"""
NEEDS_NAMESPACES = pytest.mark.skipif(
    not _namespaces_allowed(), reason="user namespaces (unshare -rm) not allowed here"
)


def sqlite_url(root: Path) -> str:
    return f"sqlite:///{root / 'register' / 'register.sqlite'}"


@NEEDS_NAMESPACES
def test_a_full_disk_stops_the_master_not_the_data(tmp_path: Path) -> None:
    root = tmp_path / "drive"
    job = night_one(root)
    master_dir = root / "master"
    old = tmp_path / "old.xlsx"
    shutil.copy2(master_dir / MASTER_NAME, old)
    size_kb = old.stat().st_size // 1024 + 8  # the old master fits, a second one does not
    prefix = ["unshare", "-rm", "sh", "-c", FULL_DISK, "sh", f"{size_kb}k", str(master_dir), str(old)]

    child = run_child(job, prefix=prefix)

    assert f"LEFT IN MASTER FOLDER: {MASTER_NAME}/" in child.stdout  # no temporary file, no history
    assert f"MASTER HASH: {sha256(old)}" in child.stdout
    # outside the namespace the master folder is the drive's own again: untouched
    assert_master_failed_safely(root, sqlite_url(root), child, sha256(old), "磁盘空间已满")
    assert run_job(load_job(job)).exit_code == 0


def test_a_read_only_master_folder_stops_the_master_not_the_data(tmp_path: Path) -> None:
    root = tmp_path / "drive"
    job = night_one(root)
    master_dir = root / "master"
    old_master = sha256(master_dir / MASTER_NAME)
    if os.geteuid() == 0:  # root writes through any mode: mount the folder read-only instead
        if not _namespaces_allowed():
            pytest.skip("as root, a read-only folder needs a private mount namespace (unshare -rm)")
        child = run_child(job, prefix=["unshare", "-rm", "sh", "-c", READ_ONLY, "sh", str(master_dir)])
        reason = "只读"
    else:
        master_dir.chmod(0o555)
        try:
            child = run_child(job)
        finally:
            master_dir.chmod(0o755)
        reason = "没有写入"

    assert_master_failed_safely(root, sqlite_url(root), child, old_master, reason)
    assert run_job(load_job(job)).exit_code == 0


# The messages themselves -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "磁盘空间已满"),
        (errno.EFBIG, "大小上限"),
        (errno.EROFS, "只读"),
        (errno.EACCES, "没有写入"),
        (errno.EDQUOT, "配额"),
    ],
)
def test_write_failures_are_told_in_chinese_naming_the_file(code: int, words: str) -> None:
    error = OSError(code, os.strerror(code), "/share/master/.总台账.xlsx.abc.tmp")
    shown = write_error_message(FileCreateError(error), Path("/share/master/总台账.xlsx"))
    assert shown is not None and words in shown and "“/share/master/总台账.xlsx”" in shown
    assert words in (write_error_message(error) or "") and ".总台账.xlsx.abc.tmp" in (
        write_error_message(error) or ""
    )


def test_other_errors_are_not_dressed_up_as_write_failures() -> None:
    assert write_error_message(OSError(errno.ENOENT, "gone", "x")) is None
    assert write_error_message(ValueError("bug")) is None


def test_a_full_sqlite_register_is_told_as_such() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.execute("PRAGMA max_page_count = 2")  # SQLite's own "database or disk is full"
    with pytest.raises(sqlite3.OperationalError) as full:
        conn.execute("INSERT INTO t VALUES (zeroblob(100000))")
    try:
        raise RuntimeError("commit failed") from full.value
    except RuntimeError as error:
        shown = write_error_message(error, register="/share/register/register.sqlite")
    assert shown is not None and "磁盘空间已满" in shown and "/share/register/register.sqlite" in shown


def test_master_not_written_says_the_data_is_safe(tmp_path: Path) -> None:
    error = MasterNotWritten(
        report=None,  # type: ignore[arg-type]
        target=tmp_path / MASTER_NAME,
        error=FileCreateError(OSError(errno.ENOSPC, "No space left on device")),
    )
    text = str(error)
    assert "磁盘空间已满" in text and str(tmp_path / MASTER_NAME) in text and "已全部存入台账" in text
