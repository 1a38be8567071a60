"""Several machines on one register: consolidations take turns, writers take turns, nothing is lost.

Two consolidations run in two real processes (spawn, as on another machine: they share nothing
but the register URL), each over its own drive, at the same moment. On PostgreSQL,
``Register.exclusive()`` makes one wait for the other; on SQLite it does nothing and the drive's
run lock is what keeps runs apart, but the register still loses nothing.
No assertion here is about how long anything takes; orders of events only.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import text

from sheetsync.consolidate import consolidate
from sheetsync.drive import Drive
from sheetsync.panel_record import draw_and_record, list_draws
from sheetsync.profile import load_profile
from sheetsync.store import Register, RegisterBusy, lock_key, open_register
from sheetsync.uscc import check_character
from tests.conftest import write_xlsx
from tests.postgres import (  # noqa: F401  (fixtures)
    backend_fixture,
    postgres_url_fixture,
    raw_execute,
    register_url_fixture,
)

CONTEXT = multiprocessing.get_context("spawn")
PROFILE_NAME = "guangzhou-2013"
AS_OF = date(2014, 11, 30)
NIGHT = datetime(2014, 11, 30, 2, 0)
TIMEOUT = 120  # a bound on waiting for a child, never an expectation of speed
HEADERS = ["统一社会信用代码", "企业名称", "所属区县", "行业门类", "企业类别", "审核类型", "联系电话"]


def code(n: int) -> str:
    first17 = f"91440106{n:09d}"
    return first17 + check_character(first17)


SHARED = code(999)  # an enterprise both drives report, with different phone numbers
SHARED_PHONE = {"A": "020-81111111", "B": "020-82222222"}


def enterprise_row(uscc: str, district: str, phone: str) -> list[str]:
    return [uscc, f"{district}企业{uscc[-4:]}", district, "C 制造业", "规模以上工业", "自愿", phone]


def make_drive(root: Path, label: str, districts: dict[str, range]) -> tuple[Drive, set[str]]:
    """A drive whose inbox holds one workbook per district, written as a submitter would send it."""
    drive = Drive(root)
    drive.write_settings(PROFILE_NAME)
    codes: set[str] = set()
    for district, numbers in districts.items():
        folder = drive.submitter_folder(district)
        folder.mkdir(parents=True)
        rows = [enterprise_row(code(n), district, f"020-8{n:07d}") for n in numbers]
        if district == "越秀区":
            rows.append(enterprise_row(SHARED, district, SHARED_PHONE[label]))
        codes |= {row[0] for row in rows}
        write_xlsx(folder / f"{district}_{label}.xlsx", {"企业名录": [HEADERS, *rows]})
    return drive, codes


def _consolidate_exclusively(root: str, url: str, start: Any, results: Any) -> None:
    """One machine's run: wait for the other, then consolidate its drive under the register lock."""
    try:
        drive = Drive(Path(root))
        profile = load_profile(PROFILE_NAME)
        with open_register(url) as register:
            start.wait(TIMEOUT)
            with register.exclusive():
                entered = time.monotonic_ns()  # system-wide clock: comparable between processes
                report = consolidate(drive, profile, as_of=AS_OF, register_url=url)
                left = time.monotonic_ns()  # still inside: the other can only enter after this
        errors = [p.code for outcome in report.files for p in outcome.result.problems if p.is_error]
        results.put((root, entered, left, errors, None))
    except BaseException:  # report, do not hang the test
        results.put((root, 0, 0, [], traceback.format_exc()))


def run_two_consolidations(
    url: str, tmp_path: Path
) -> tuple[dict[str, tuple[int, int]], dict[str, set[str]]]:
    """Two drives, two processes, one register; (entered, left) per drive root, and each drive's codes."""
    first, first_codes = make_drive(
        tmp_path / "machine-a", "A", {"越秀区": range(1, 40), "海珠区": range(40, 80)}
    )
    second, second_codes = make_drive(
        tmp_path / "machine-b", "B", {"越秀区": range(100, 140), "天河区": range(140, 180)}
    )
    start, results = CONTEXT.Event(), CONTEXT.Queue()
    processes = [
        CONTEXT.Process(target=_consolidate_exclusively, args=(str(drive.root), url, start, results))
        for drive in (first, second)
    ]
    for process in processes:
        process.start()
    try:
        start.set()
        outcomes = [results.get(timeout=TIMEOUT) for _ in processes]
    finally:
        for process in processes:
            process.join(TIMEOUT)
    windows = {}
    for root, entered, left, errors, failure in outcomes:
        assert failure is None, failure
        assert errors == [], (root, errors)
        windows[root] = (entered, left)
    assert [process.exitcode for process in processes] == [0, 0]
    return windows, {str(first.root): first_codes, str(second.root): second_codes}


def test_two_machines_consolidating_into_one_register_lose_nothing(
    register_url: str, backend: str, tmp_path: Path
) -> None:
    windows, codes = run_two_consolidations(register_url, tmp_path)

    with open_register(register_url) as register:
        current = {record.key[0]: record for record in register.current("企业名录")}
        assert set(current) == set().union(*codes.values())  # every row of both runs is current
        for key, record in current.items():
            versions = [h.version for h in register.history("企业名录", (key,))]
            assert versions == list(range(1, record.version + 1))  # consecutive, none lost or doubled
        assert [h.version for h in register.history("企业名录", (SHARED,))] == [1, 2]
        submissions = sorted(register.submissions(), key=lambda s: s["id"])
        assert len(submissions) == 4 and len(register.runs()) == 2

    if backend == "sqlite":
        return  # exclusive() is a no-op there: the runs may interleave, and did not lose anything
    # PostgreSQL: one run entirely before the other, in time and in the register's own ids
    (before, after) = sorted(windows, key=lambda root: windows[root][0])
    assert windows[after][0] > windows[before][1]
    labels = ["A" if s["file_name"].endswith("_A.xlsx") else "B" for s in submissions]
    assert labels in (["A", "A", "B", "B"], ["B", "B", "A", "A"])
    later = labels[-1]
    assert (
        current[SHARED].data["phone"] == SHARED_PHONE[later]
    )  # the later run's value, on top of the other's
    assert Path(after).name == ("machine-a" if later == "A" else "machine-b")


def test_a_run_merging_while_the_master_is_written_does_not_tear_it(
    register_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The master reads the register again sheet by sheet; another drive's run committing in
    between (possible on a SQLite register that two drives share) must not leave it half old,
    half new: it is written again from the register as it is now."""
    first, first_codes = make_drive(tmp_path / "machine-a", "A", {"海珠区": range(1, 30)})
    second, second_codes = make_drive(tmp_path / "machine-b", "B", {"天河区": range(100, 130)})
    profile = load_profile(PROFILE_NAME)
    other_runs: list[Any] = []

    def other_machine_merges(_outcome: Any, _source: Path) -> None:
        if not other_runs:  # after this run's commit, before its master is read
            other_runs.append(consolidate(second, profile, as_of=AS_OF, register_url=register_url))

    with caplog.at_level("WARNING", logger="sheetsync.consolidate"):
        report = consolidate(
            first, profile, as_of=AS_OF, register_url=register_url, after_commit=other_machine_merges
        )

    assert "the register changed while the master was written" in caplog.text
    assert master_codes(report.master_path) == first_codes | second_codes  # the register as it is now
    assert report.files[0].merged["企业名录"].inserted == len(first_codes)  # what this run committed
    assert master_codes(other_runs[0].master_path) == first_codes | second_codes


def master_codes(path: Path) -> set[str]:
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("企业名录").to_python()
    return {str(row[0]) for row in rows[1:] if row and row[0]}


# --- exclusive() on PostgreSQL ---------------------------------------------------------------------


def _hold(url: str, held: Any, release: Any) -> None:
    with open_register(url) as register, register.exclusive():
        held.set()
        release.wait(TIMEOUT)


def _hold_forever(url: str, held: Any) -> None:
    with open_register(url) as register, register.exclusive():
        held.set()
        time.sleep(TIMEOUT)


@pytest.fixture
def held_elsewhere(postgres_url: str) -> Iterator[Any]:
    """Another process holding the consolidation lock until the test ends."""
    held, release = CONTEXT.Event(), CONTEXT.Event()
    holder = CONTEXT.Process(target=_hold, args=(postgres_url, held, release))
    holder.start()
    try:
        assert held.wait(TIMEOUT)
        yield holder
    finally:
        release.set()
        holder.join(TIMEOUT)
    assert holder.exitcode == 0


def test_a_busy_register_is_refused_at_once_and_names_the_holder(
    postgres_url: str, held_elsewhere: Any
) -> None:
    with open_register(postgres_url) as register:
        with pytest.raises(RegisterBusy) as caught, register.exclusive(wait=False):
            pytest.fail("two holders at once")
        message = str(caught.value)
        assert "台账" in message and "本次未运行" in message
        assert f"pid {held_elsewhere.pid}" in message and socket.gethostname()[:32] in message
        assert caught.value.name == "consolidation"
        with register.exclusive("another lock", wait=False):
            pass  # a lock of another name is free


def test_waiting_for_a_busy_register_gives_up_after_the_timeout(
    postgres_url: str, held_elsewhere: Any
) -> None:
    with open_register(postgres_url) as register:
        with pytest.raises(RegisterBusy), register.exclusive(timeout=0.2):
            pytest.fail("two holders at once")
        # the waiting connection went back to the pool as it was
        with register.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW lock_timeout").scalar_one() == "0"
            assert conn.exec_driver_sql("SHOW application_name").scalar_one() == ""


def test_the_lock_is_free_again_after_release(postgres_url: str) -> None:
    held, release = CONTEXT.Event(), CONTEXT.Event()
    holder = CONTEXT.Process(target=_hold, args=(postgres_url, held, release))
    holder.start()
    assert held.wait(TIMEOUT)
    release.set()
    holder.join(TIMEOUT)
    with open_register(postgres_url) as register, register.exclusive(wait=False):
        assert _advisory_locks(postgres_url) == 1


def test_a_killed_holder_does_not_leave_the_register_locked(postgres_url: str) -> None:
    held = CONTEXT.Event()
    holder = CONTEXT.Process(target=_hold_forever, args=(postgres_url, held))
    holder.start()
    assert held.wait(TIMEOUT)
    holder.kill()  # the process we started, by its own handle
    holder.join(TIMEOUT)
    with open_register(postgres_url) as register, register.exclusive(timeout=TIMEOUT):
        pass  # the server dropped the dead session's lock


def _advisory_locks(url: str) -> int:
    ((count,),) = raw_execute(url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
    return count


# --- write transactions take turns on PostgreSQL, as BEGIN IMMEDIATE makes them on SQLite ---------


def _wait_for_a_waiting_writer(url: str) -> None:
    low = lock_key("writers") & 0xFFFF_FFFF
    for _ in range(TIMEOUT * 20):
        rows = raw_execute(
            url,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = CAST(? AS oid)",
            low,
        )
        if rows[0][0]:
            return
        time.sleep(0.05)
    pytest.fail("the second writer never waited for the writers' lock")


def test_a_second_writer_waits_and_then_sees_the_first_writers_rows(postgres_url: str) -> None:
    """Read-then-write under READ COMMITTED is safe because writers take turns."""
    first, second = open_register(postgres_url), open_register(postgres_url)
    seen: list[int] = []

    def second_writer() -> None:
        with second.transaction() as conn:  # waits here for the first writer to commit
            seen.append(conn.execute(text("SELECT count(*) FROM runs")).scalar_one())
            second.record_run(started_at=NIGHT, finished_at=None, as_of=None, summary={"n": 2}, conn=conn)

    with first.transaction() as conn:
        first.record_run(started_at=NIGHT, finished_at=None, as_of=None, summary={"n": 1}, conn=conn)
        thread = threading.Thread(target=second_writer)
        thread.start()
        _wait_for_a_waiting_writer(postgres_url)
        assert second.runs() == []  # readers never wait, and see only what is committed
    thread.join(TIMEOUT)
    assert seen == [1]  # the second writer's read came after the first writer's commit
    assert [run["summary"]["n"] for run in second.runs()] == [2, 1]
    first.close()
    second.close()


def test_machines_opening_a_new_register_at_once_all_succeed(postgres_url: str) -> None:
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            barrier.wait(TIMEOUT)
            open_register(postgres_url).close()
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            failures.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert failures == []


def test_officers_drawing_panels_at_once_each_see_the_earlier_panels(register_url: str) -> None:
    """Draws read the earlier panels and then write theirs: at once, they still take turns."""
    from tests.test_panel_record import ENTERPRISE_CODE, NOW, PROFILE, fill

    fill(open_register(register_url)).close()
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def draw(seed: int) -> None:
        try:
            with open_register(register_url) as register:
                barrier.wait(TIMEOUT)
                draw_and_record(
                    register,
                    PROFILE,
                    enterprise_code=ENTERPRISE_CODE,
                    purpose="评估",
                    seed=seed,
                    as_of=AS_OF,
                    now=NOW,
                )
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            failures.append(error)

    threads = [threading.Thread(target=draw, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert failures == []
    with open_register(register_url) as register:
        draws = list_draws(register)
    assert [record.panel_id for record in draws] == ["P20141130-0001", "P20141130-0002"]
    earlier, later = draws
    avoided = {expert for expert, reason in later.exclusions if "上一次专家组" in reason}
    assert avoided == set(earlier.panel)  # the later draw saw the earlier one, committed


# --- SQLite: nothing changes ---------------------------------------------------------------------------


def test_exclusive_does_nothing_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'register' / 'register.sqlite'}"
    with open_register(url) as register:
        before = sorted(os.listdir(tmp_path / "register"))
        with register.exclusive(), register.exclusive(wait=False), register.exclusive(timeout=0):
            assert isinstance(register, Register) and register.backend == "sqlite"
        assert sorted(os.listdir(tmp_path / "register")) == before  # no lock file, nothing new
