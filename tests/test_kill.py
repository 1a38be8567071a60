"""Issue 8, "nothing lost": a nightly run killed with SIGKILL at any step loses nothing.

A small drive has had one night; the second night's inbox holds changes to existing records,
new records, a bad row, a file in the wrong folder (rejected) and a file sent again (already
registered). ``sheetsync consolidate --job`` runs in a child process (tests/killing.py) that
kills itself at one chosen step: while validating, before, inside and after each file's merge,
just before and just after the commit, while answering and archiving the files, while writing,
publishing and copying the master. A reference run on a copy of the drive, not killed, counts
how often each step happens and gives the register "after".

For every kill point:

* the register equals exactly the register before the run or exactly the reference after it
  (:func:`tests.killing.register_dump`: every row of every table, read with the plain driver,
  without row ids, wall-clock times and the per-copy master path; run records in order);
* before the commit every inbox file is still where it was; at any point every inbox file's
  bytes are in the inbox, in ``archive/`` or in ``rejected/`` (by SHA-256);
* the master path holds the old master byte for byte or a complete new one (openpyxl loads it,
  with the reference's sheets); anything else in the master folder is one of the hidden
  temporary files a killed writer cannot remove (:func:`sheetsync.master_files.stale_temporaries`);
* the next run, not killed, exits 0 or 1, removes those temporary files, empties the inbox into
  ``archive/`` and ``rejected/``, and leaves the register's data equal to the reference's, with
  one more run record; a run killed after its commit finds every file still in the inbox
  already registered.

A few points run on PostgreSQL too (tests/postgres.py), compared with the SQLite reference: the
two backends store the same values, so one reference serves both.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from sheetsync.job import load_job
from sheetsync.job_run import run_job
from sheetsync.master_files import stale_temporaries
from tests.killing import (
    MASTER_NAME,
    ChildRun,
    add_second_night,
    hashes_under,
    inbox_hashes,
    make_drive,
    register_dump,
    run_child,
    sha256,
)
from tests.postgres import postgres_url_fixture  # noqa: F401  (fixture)

AS_OF = date(2014, 11, 30)
MASTER_STEM = Path(MASTER_NAME).stem  # in the names of the master, its temporary files and history

# step name → (function as "module:attribute", substring its arguments must contain, or None)
TARGETS: dict[str, tuple[str, str | None]] = {
    "validate": ("sheetsync.consolidate:validate_file", None),
    "merge": ("sheetsync.consolidate:merge_file", None),
    "submission": ("sheetsync.store:Register.add_submission", None),
    "supersede": ("sheetsync.store:Register.supersede", None),
    "insert": ("sheetsync.store:Register.insert_versions", None),
    "record_run": ("sheetsync.store:Register.record_run", None),
    "commit": ("sqlalchemy.engine.base:Connection._commit_impl", None),
    "feedback": ("sheetsync.job_run:write_feedback", None),
    "receipt": ("sheetsync.job_run:append_receipt", None),
    "archive_copy": ("sheetsync.inbox:_copy_verified", None),
    "archive": ("sheetsync.job_run:archive_file", None),
    "reject": ("sheetsync.job_run:reject_file", None),
    "write_master": ("sheetsync.consolidate:write_master", None),
    "master_zip": ("zipfile:ZipFile.write", MASTER_STEM),
    "master_replace": ("os:replace", MASTER_STEM),
    "history": ("sheetsync.master_files:_copy_to_history", None),
}


@dataclass(frozen=True)
class KillPoint:
    key: str  # a TARGETS key
    when: str  # "before" or "after" the real call
    nth: int | str  # the Nth call; "last" or "middle" resolved with the reference's counts

    def resolved(self, counts: dict[str, int]) -> KillPoint:
        total = counts[self.key]
        nth = {"last": total, "middle": (total + 1) // 2}.get(str(self.nth), self.nth)
        assert isinstance(nth, int) and 1 <= nth <= total, (self, total)
        return KillPoint(self.key, self.when, nth)

    def __str__(self) -> str:
        return f"{self.when} {self.key} #{self.nth}"


POINTS = [
    KillPoint("validate", "before", 1),  # during validation
    KillPoint("validate", "before", "last"),
    KillPoint("merge", "before", 1),  # before the first file's merge
    KillPoint("submission", "after", 1),  # inside it: its submission row written
    KillPoint("supersede", "after", 1),  # inside it: old versions superseded, new ones not yet
    KillPoint("merge", "after", 1),  # after the first file's merge
    KillPoint("insert", "after", "last"),  # inside the last file's merge
    KillPoint("merge", "after", "last"),  # every file merged, run not recorded
    KillPoint("record_run", "after", 1),  # just before the commit
    KillPoint("commit", "before", 1),
    KillPoint("commit", "after", 1),  # just after the commit
    KillPoint("feedback", "after", 1),  # answering the files
    KillPoint("receipt", "after", "last"),
    KillPoint("archive_copy", "after", 1),  # archived copy made, inbox copy not yet removed
    KillPoint("archive", "after", 1),
    KillPoint("reject", "before", 1),
    KillPoint("reject", "after", 1),
    KillPoint("archive", "after", "last"),
    KillPoint("write_master", "before", 1),  # writing the master
    KillPoint("master_zip", "before", 1),
    KillPoint("master_zip", "before", "middle"),
    KillPoint("master_replace", "before", 1),  # master complete in its temporary file
    KillPoint("master_replace", "before", 2),  # staged, not yet published
    KillPoint("master_replace", "after", 2),  # published, history not yet copied
    KillPoint("history", "after", 1),
]
POSTGRES_POINTS = [
    KillPoint("supersede", "after", 1),
    KillPoint("record_run", "after", 1),
    KillPoint("commit", "after", 1),
]


@dataclass
class Base:
    """The drive before night 2 (to be copied for every point) and the reference night 2."""

    root: Path
    before: dict[str, Any]
    inbox: dict[str, str]  # night 2's inbox: display path → hash
    old_master: str  # hash of night 1's master
    counts: dict[str, int]
    after: dict[str, Any]
    sheets: list[str]  # the reference master's sheets
    placed: dict[str, str]  # hash → "archive" or "rejected" after the reference run


@dataclass
class Outcome:
    point: str
    state: str = ""  # "before" or "after": which register the kill left
    problems: list[str] = field(default_factory=list)
    rows_lost: int = 0


def sqlite_url(root: Path) -> str:
    return f"sqlite:///{root / 'register' / 'register.sqlite'}"


def run_night(root: Path) -> int:
    return run_job(load_job(root / "sync_jobs" / "job.toml"), as_of=AS_OF).exit_code


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    work = tmp_path_factory.mktemp("kill")
    root = work / "base"
    make_drive(root)
    shutil.copytree(root, work / "pristine")  # the same bytes for the PostgreSQL drives
    assert run_night(root) == 0
    add_second_night(root)
    reference = work / "reference"
    shutil.copytree(root, reference)
    run = run_child(reference / "sync_jobs" / "job.toml", targets=TARGETS, census=work / "census.json")
    assert run.returncode == 1, run.stderr  # ran; the bad row and the misplaced file are rejected
    assert all(run.counts[key] > 0 for key in TARGETS), run.counts  # every step is reached
    inbox = inbox_hashes(root)
    archived, rejected = hashes_under(reference / "archive"), hashes_under(reference / "rejected")
    placed = {digest: "archive" if digest in archived else "rejected" for digest in inbox.values()}
    assert set(placed.values()) == {"archive", "rejected"} and set(placed) <= archived | rejected
    book = openpyxl.load_workbook(reference / "master" / MASTER_NAME, read_only=True)
    sheets = list(book.sheetnames)
    book.close()
    return Base(
        root=root,
        before=register_dump(sqlite_url(root)),
        inbox=inbox,
        old_master=sha256(root / "master" / MASTER_NAME),
        counts=run.counts,
        after=register_dump(sqlite_url(reference)),
        sheets=sheets,
        placed=placed,
    )


def kill(root: Path, point: KillPoint) -> ChildRun:
    return run_child(
        root / "sync_jobs" / "job.toml",
        targets=TARGETS,
        kill={"key": point.key, "when": point.when, "nth": point.nth},
    )


def check(base: Base, root: Path, url: str, point: KillPoint, child: ChildRun) -> Outcome:
    """Every promise of the module docstring for one kill point; the broken ones as text."""
    outcome = Outcome(str(point))
    problems = outcome.problems
    if child.returncode != -9:
        problems.append(f"not killed (exit {child.returncode}): {child.stderr[-500:]}")
        return outcome
    killed = register_dump(url)
    if killed == base.before:
        outcome.state = "before"
    elif killed == base.after:
        outcome.state = "after"
    else:
        problems.append("register is neither as before nor as after the run")
    problems += _files_kept(base, root, untouched=outcome.state == "before")
    problems += _master_whole(base, root / "master")

    exit_code = run_night(root)  # the next night, not killed
    if exit_code not in (0, 1):
        problems.append(f"next run exited {exit_code}")
    final = register_dump(url)
    data = {name: rows for name, rows in final.items() if name != "runs"}
    expected = {name: rows for name, rows in base.after.items() if name != "runs"}
    outcome.rows_lost = sum(
        1 for name, rows in expected.items() for row in rows if row not in data.get(name, [])
    )
    if data != expected:
        problems.append(
            f"register after the next run differs from the reference ({outcome.rows_lost} rows lost)"
        )
    runs = final.get("runs", [])
    if runs[:-1] != killed.get("runs", []):
        problems.append("the next run changed earlier run records")
    if outcome.state == "before" and runs != base.after["runs"]:
        problems.append("the next run's record differs from the reference run's")
    if outcome.state == "after" and runs and not all(f["already_registered"] for f in runs[-1]["files"]):
        problems.append("a file left in the inbox after the commit was merged again")
    if inbox_hashes(root):
        problems.append(f"files still in the inbox after the next run: {sorted(inbox_hashes(root))}")
    for digest, folder in base.placed.items():
        if digest not in hashes_under(root / folder):
            problems.append(f"a file is not in {folder}/ after the next run")
    problems += _master_whole(base, root / "master", old_allowed=False, leftovers_allowed=False)
    return outcome


def _files_kept(base: Base, root: Path, *, untouched: bool) -> list[str]:
    problems = []
    moved = hashes_under(root / "archive") | hashes_under(root / "rejected")
    for name, digest in base.inbox.items():
        path = root / name
        in_place = path.is_file() and sha256(path) == digest
        if untouched and not in_place:
            problems.append(f"{name} left the inbox before the commit")
        elif not in_place and digest not in moved:
            problems.append(f"{name} is lost")
    return problems


def _master_whole(
    base: Base, folder: Path, *, old_allowed: bool = True, leftovers_allowed: bool = True
) -> list[str]:
    master = folder / MASTER_NAME
    problems = []
    if not master.is_file():
        return [f"no master at {master}"]
    if not (old_allowed and sha256(master) == base.old_master):
        try:
            book = openpyxl.load_workbook(master, read_only=True)
            sheets = list(book.sheetnames)
            book.close()
        except Exception as error:  # a broken zip is exactly what this test looks for
            return [f"master cannot be opened: {type(error).__name__}: {error}"]
        if sheets != base.sheets:
            problems.append(f"master has sheets {sheets}")
    leftovers = set(stale_temporaries(master))
    others = {path for path in folder.iterdir() if path.name not in (MASTER_NAME, "history")}
    if others - leftovers:
        problems.append(f"unexpected files beside the master: {sorted(p.name for p in others - leftovers)}")
    if leftovers and not leftovers_allowed:
        problems.append(f"temporary files left after the next run: {sorted(p.name for p in leftovers)}")
    return problems


def _copies(base: Base, tmp_path: Path, points: list[KillPoint]) -> Iterator[tuple[KillPoint, Path]]:
    for index, point in enumerate(points):
        root = tmp_path / f"point{index:02d}"
        shutil.copytree(base.root, root)
        yield point, root


def test_a_run_killed_at_any_step_loses_nothing(
    base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    points = [point.resolved(base.counts) for point in POINTS]
    outcomes: list[Outcome] = []
    # two children at a time (the machine has two cores); each is checked as soon as it is killed
    with futures.ThreadPoolExecutor(max_workers=2) as pool:
        running = {
            pool.submit(kill, root, point): (point, root) for point, root in _copies(base, tmp_path, points)
        }
        for done in futures.as_completed(running):
            point, root = running[done]
            outcomes.append(check(base, root, sqlite_url(root), point, done.result()))
    broken = [f"{o.point}: {'; '.join(o.problems)}" for o in outcomes if o.problems]
    states = [o.state for o in outcomes]
    with capsys.disabled():
        print(
            f"\nkill points tried: {len(outcomes)} (SQLite), register as before: {states.count('before')}, "
            f"as after: {states.count('after')}, rows lost: {sum(o.rows_lost for o in outcomes)}, "
            f"points broken: {len(broken)}"
        )
    assert broken == []
    # the points really fall on both sides of the commit
    assert states.count("before") >= 8 and states.count("after") >= 8


@pytest.mark.parametrize("point", POSTGRES_POINTS, ids=str)
def test_a_run_killed_on_postgresql_loses_nothing(
    base: Base, tmp_path: Path, postgres_url: str, point: KillPoint, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "drive"
    shutil.copytree(base.root.parent / "pristine", root)
    job = root / "sync_jobs" / "job.toml"
    job.write_text(
        job.read_text(encoding="utf-8") + f"register_url = {json.dumps(postgres_url)}\n", encoding="utf-8"
    )
    assert run_night(root) == 0
    for name in base.inbox:  # night 2: the very files the SQLite points had
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(base.root / name, root / name)
    assert register_dump(postgres_url) == base.before  # the same values as on SQLite
    outcome = check(base, root, postgres_url, point, kill(root, point.resolved(base.counts)))
    with capsys.disabled():
        print(
            f"\nkill point on PostgreSQL: {point}: register as {outcome.state}, rows lost: {outcome.rows_lost}"
        )
    assert outcome.problems == []
