"""One consolidation: read → validate → merge → render, over every file in a drive's inbox.

Each file is validated on its own, then enterprise references are checked against the register
and every file of the run together (an agency may audit an enterprise a district registered in
the same night).  Files are merged one by one into ONE transaction that also records the run,
each behind a savepoint, so a file that fails cannot cost another file's rows or anything
already in the register, and a run killed at any point leaves the register exactly as before
it or exactly as after it (tests/test_kill.py kills it at every step).  Files are answered and
moved out of the inbox only after that commit.  The domain engine
(:func:`sheetsync.programme.evaluate`) reads the register's current records in that
transaction, one sheet at a time; the master reads each register sheet again as it writes it,
under the same exclusive lock, so no night holds all of its records at once.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import sys
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from sheetsync.drive import Drive
from sheetsync.errors import Problem, problems_as_json
from sheetsync.gc_pause import SparedFromCollection
from sheetsync.master.conflicts import NOT_OWNER
from sheetsync.master.split import EXCEL_DATA_ROWS
from sheetsync.master_files import staging_path, write_error_message
from sheetsync.merge import MergeCounts, merge_file, prepare
from sheetsync.ownership import EnterpriseFacts, Ownership, check_ownership, ownership_from_register
from sheetsync.panel_record import list_draws
from sheetsync.profile import Profile
from sheetsync.programme import ProgrammeView, evaluate
from sheetsync.read import file_hash
from sheetsync.records import FileResult, FileSummary, RunInfo, StoredRecord
from sheetsync.render_master import write_master
from sheetsync.schemas import SHEETS, Enterprise, Training
from sheetsync.schemas.stamp import period_of
from sheetsync.status import missing_submitters
from sheetsync.store import Register, RegisterChanged, encode_key, open_register
from sheetsync.validate import References, check_references, validate_file
from sheetsync.validate_parallel import PackedResult, Validated, pack_result, validate_night

log = logging.getLogger(__name__)


@dataclass
class FileOutcome:
    submitter: str
    result: FileResult
    source: Path = field(default_factory=Path)  # the file as it lies in the inbox
    merged: dict[str, MergeCounts] = field(default_factory=dict)
    already_registered: bool = False  # the same bytes were consolidated in an earlier run

    def summary(self) -> FileSummary:
        errors = sum(1 for p in self.result.problems if p.is_error)
        return FileSummary(
            submitter=self.submitter,
            file_name=self.result.path,
            status=self.result.status,
            rows_accepted=self.result.rows_accepted,
            rows_rejected=self.result.rows_rejected,
            errors=errors,
            warnings=len(self.result.problems) - errors,
            skipped_unchanged=self.already_registered,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.result.path,
            "submitter": self.submitter,
            "status": self.result.status.value,
            "file_hash": self.result.file_hash,
            "already_registered": self.already_registered,
            "rows_accepted": {sheet.sheet_name: sheet.rows_accepted for sheet in self.result.sheets},
            "rows_rejected": {sheet.sheet_name: len(sheet.rejected_rows) for sheet in self.result.sheets},
            "merged": {
                name: {"inserted": c.inserted, "updated": c.updated, "unchanged": c.unchanged}
                for name, c in self.merged.items()
            },
            "problems": problems_as_json(self.result.problems),
        }


@dataclass
class Consolidation:
    run: RunInfo
    master_path: Path
    files: list[FileOutcome]
    view: ProgrammeView | None = None
    missing_submitters: list[str] = field(default_factory=list)

    @property
    def any_errors(self) -> bool:
        return any(outcome.result.has_errors for outcome in self.files)

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.run.as_of.isoformat(),
            "started_at": self.run.started_at.isoformat(timespec="seconds"),
            "profile": self.run.profile_name,
            "master": str(self.master_path),
            "missing_submitters": self.missing_submitters,
            "overdue": self.view.open_overdue if self.view is not None else 0,
            "certificates_due": self.view.certificates_due if self.view is not None else 0,
            "files": [outcome.as_json() for outcome in self.files],
        }


# How long a consolidation waits for another machine's run on a shared PostgreSQL register.
REGISTER_WAIT_SECONDS = 1800.0


class MasterNotWritten(RuntimeError):
    """The night's data is committed, but the master could not be written or put in place.

    ``report`` is the consolidation as committed (its ``master_path`` is where the master was
    meant to go); the message is Chinese, names the master and says the data is safe.  Nothing
    of the new master is left behind: its temporary file is removed and the old master stays.
    """

    def __init__(self, report: Consolidation, target: Path, error: BaseException) -> None:
        reason = (
            write_error_message(error, target) or f"写入“{target}”时出错({type(error).__name__}: {error})。"
        )
        super().__init__(
            f"总台账未能生成:{reason}本次收到的数据已全部存入台账,不受影响;原总台账保持不变,"
            "问题排除后重新运行即可生成新的总台账。"
        )
        self.report = report
        self.target = target
        self.error = error


def consolidate(
    drive: Drive,
    profile: Profile,
    *,
    as_of: date,
    register_url: str | None = None,
    now: datetime | None = None,
    files: Sequence[tuple[str, Path]] | None = None,
    after_commit: Callable[[FileOutcome, Path], None] | None = None,
    publish: Callable[[Path], Path] | None = None,
    progress: Callable[[str], None] | None = None,
    frequency: str | None = None,
    master_path: Path | None = None,
    register_wait: float | None = REGISTER_WAIT_SECONDS,
    max_register_rows: int = EXCEL_DATA_ROWS,
) -> Consolidation:
    """Consolidate ``files`` (default: every file in the inbox) and write the master.

    The order is what makes a run all-or-nothing, even when the process is killed:

    1. validate every file (reads only);
    2. merge every file and record the run in ONE register transaction, each file behind a
       savepoint so a file whose merge fails costs only itself (``not-processed``, left in the
       inbox for the next night) and the others still go in;
    3. after the commit, ``after_commit`` runs for each file (the nightly job writes the
       feedback and archives or rejects the file there): killed before the commit, every file
       is still in the inbox and the register is as it was; killed after it, the files left in
       the inbox are recognised by their hash as already registered, change nothing, and are
       archived by the next run;
    4. the master is written from the committed register into a temporary file and renamed
       into place (``publish`` moves it there; by default it goes straight to the master path).

    The whole run holds the register's exclusive lock (:meth:`Register.exclusive`), waiting up
    to ``register_wait`` seconds for another machine's run on a shared PostgreSQL register and
    raising :class:`~sheetsync.store.RegisterBusy` after that.  If the master cannot be written,
    :class:`MasterNotWritten` is raised after the commit: the data stands, the old master stays.
    The run record in the register (``runs``) is written in the transaction of step 2, so its
    ``master`` is the path the master was meant to go to.
    """
    started_at = now or datetime.now().replace(microsecond=0)
    if register_url is None:
        drive.register_path.parent.mkdir(parents=True, exist_ok=True)
    target = master_path or drive.master_path
    with (
        open_register(register_url or drive.register_url) as register,
        register.exclusive(wait=register_wait is None or register_wait > 0, timeout=register_wait),
        SparedFromCollection() as spared,  # the domain's view, kept until the master is written
    ):
        chosen = list(drive.submissions() if files is None else files)
        validated = _validate_all(drive, profile, register, chosen, progress)
        checks = _NightChecks(profile, register, validated)
        outcomes: list[FileOutcome] = []
        run = RunInfo(
            as_of=as_of,
            started_at=started_at,
            profile_name=profile.name,
            profile_title=profile.title,
            drive=str(drive.root),
        )
        with register.transaction() as conn:
            # one file at a time, in upload order: unpacked, checked against the night and the
            # register, merged, and its rows let go before the next one is unpacked
            pending = deque(zip(chosen, validated, strict=True))
            validated.clear()  # each packed result goes as soon as it is unpacked
            while pending:
                (folder, path), item = pending.popleft()
                outcome = checks.outcome(folder, path, item)
                if outcome is None:
                    continue
                _merge_one(register, conn, outcome, started_at)
                for sheet in outcome.result.sheets:
                    sheet.release_rows()  # in the register now; the master reads them from there
                outcomes.append(outcome)
            del checks  # the night's enterprise keys and owners: nothing reads them from here on
            _give_back_freed_memory()  # before the register's current records are loaded
            # the domain reads what is about to be committed, one sheet at a time
            sheet_names = [model.sheet_name for model in SHEETS]
            with spared.building():  # see sheetsync.gc_pause
                view = evaluate(register.current_records(sheet_names, conn=conn), profile, as_of)
            period = period_of(as_of, frequency or profile.reporting)
            # this night's included; of the problems, only the conflicts the master lists again
            submissions = register.submissions(conn=conn, problem_codes={NOT_OWNER})
            missing = missing_submitters(submissions, profile, period, frequency=frequency)
            report = Consolidation(
                run=run, master_path=target, files=outcomes, view=view, missing_submitters=missing
            )
            register.record_run(
                started_at=started_at,
                finished_at=datetime.now().replace(microsecond=0),
                as_of=as_of,
                summary=report.as_json(),
                conn=conn,
            )
            committed = register.fingerprint(conn=conn)
        # committed: from here on the night's data is safe whatever happens to this process
        if after_commit is not None:
            for outcome in outcomes:
                after_commit(outcome, outcome.source)
        try:
            try:
                report.master_path = _write_master(
                    register,
                    report,
                    # read again sheet by sheet as the master is written, each read checked to
                    # still be the register this run committed and evaluated
                    register.current_records(sheet_names, expect=committed),
                    submissions,
                    target,
                    publish,
                    max_register_rows=max_register_rows,
                )
            except RegisterChanged as changed:
                # another drive's run on a shared SQLite register merged after this one
                # committed: the master shows the register as it is now, read in one go
                log.warning(
                    "the register changed while the master was written (%s); writing it again", changed
                )
                _finish_quietly(changed)
                report.master_path = _write_master_as_now(
                    register,
                    report,
                    profile,
                    as_of,
                    target,
                    publish,
                    spared,
                    max_register_rows=max_register_rows,
                )
        except Exception as error:
            log.exception("writing the master %s failed", target)
            _finish_quietly(error)
            raise MasterNotWritten(report, target, error) from error
    return report


def _give_back_freed_memory() -> None:
    """Hand the heap pages the night's packed results held back to the system (glibc only).

    Each file's packed bytes are freed once it is merged, but glibc keeps freed heap memory for
    later, and what comes next (the register's records, in Python's own arenas) is allocated
    elsewhere: at province scale 185 MB of the night's peak were held for nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # a C library other than glibc (musl): nothing to ask
        return
    trim(0)


def _finish_quietly(error: BaseException) -> None:
    """Let what the failed master writer left open (XlsxWriter's zip file) finish now, into the log.

    Kept alive by the traceback, that zip file would try to complete itself when garbage
    collected, fail again on the full disk and print "Exception ignored ... Traceback" on the
    officer's console, which is exactly what a failed night must not show.
    """
    previous = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: log.warning(
        "closing the unfinished master failed too: %r", unraisable.exc_value
    )
    try:
        pending: list[BaseException | None] = [error]
        seen: set[int] = set()
        while pending:
            current = pending.pop()
            if current is not None and id(current) not in seen:
                seen.add(id(current))
                traceback.clear_frames(current.__traceback__)
                pending += [current.__cause__, current.__context__]
        gc.collect()
    finally:
        sys.unraisablehook = previous


def _write_master_as_now(
    register: Register,
    report: Consolidation,
    profile: Profile,
    as_of: date,
    target: Path,
    publish: Callable[[Path], Path] | None,
    spared: SparedFromCollection,
    *,
    max_register_rows: int,
) -> Path:
    """The master of the register as one snapshot shows it now, its records all read at once.

    The night's report keeps the verdicts it committed; only the master is worked out again.
    """
    with register.snapshot() as conn:
        records = {model.sheet_name: register.current(model.sheet_name, conn=conn) for model in SHEETS}
        submissions = register.submissions(conn=conn, problem_codes={NOT_OWNER})
    with spared.building():
        view = evaluate(records, profile, as_of)
    return _write_master(
        register,
        report,
        records,
        submissions,
        target,
        publish,
        max_register_rows=max_register_rows,
        view=view,
    )


def _write_master(
    register: Register,
    report: Consolidation,
    records: Mapping[str, Sequence[StoredRecord]],
    submissions: list[dict[str, Any]],
    target: Path,
    publish: Callable[[Path], Path] | None,
    *,
    max_register_rows: int,
    view: ProgrammeView | None = None,
) -> Path:
    """Write the master (straight to ``target``, or to a staging file that ``publish`` moves).

    ``view``: the domain's verdicts the master shows, when not the report's own.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    written = target if publish is None else staging_path(target.parent, target)
    master = write_master(
        written,
        records=records,
        problems=[problem for outcome in report.files for problem in outcome.result.problems],
        files=[outcome.summary() for outcome in report.files],
        run=report.run,
        view=view if view is not None else report.view,
        panel_draws=list_draws(register),
        missing_submitters=report.missing_submitters,
        submissions=submissions,  # earlier conflicts stay on 冲突待处理 until replaced
        published_path=target,  # split register workbooks are named after, and put beside, it
        max_register_rows=max_register_rows,
    )
    if publish is None:
        return master
    try:
        return publish(master)
    except BaseException:
        written.unlink(missing_ok=True)  # a staging copy that was not published is no master
        raise


def _merge_one(register: Register, conn: Connection, outcome: FileOutcome, received_at: datetime) -> None:
    """Merge one file behind a savepoint of the run's transaction; a failure costs only this file.

    Every file is recorded as a submission, even one with nothing to merge, so its problems stay
    on file for the office; a file already registered (the same submitter and bytes, committed
    by an earlier run or earlier in this one) changes nothing.  If rolling back to the savepoint
    fails too, the transaction is unusable: that error ends the run with nothing committed.
    """
    if outcome.result.not_processed:
        # validation itself failed: no submission is recorded, or next night the same bytes would
        # count as already registered and the retry the submitter was promised would never merge
        outcome.already_registered = False
        outcome.merged = {}
        return
    submitter = outcome.result.submitter or outcome.submitter
    savepoint = conn.begin_nested()
    try:
        found = register.find_submission(submitter, outcome.result.file_hash, conn=conn)
        outcome.already_registered = found is not None
        outcome.merged = merge_file(
            register, outcome.result, file_name=outcome.result.path, received_at=received_at, conn=conn
        )
    except Exception as error:  # back to the savepoint; the other files must still go in
        savepoint.rollback()
        log.exception("merging %s failed", outcome.result.path)
        outcome.already_registered = False
        outcome.merged = {}
        _not_processed(outcome.result, error)
    else:
        savepoint.commit()


def _not_processed(result: FileResult, error: Exception) -> None:
    for sheet in result.sheets:
        sheet.rejected_rows.update(row.row for row in sheet.valid_rows)
        sheet.valid_rows = []
    result.problems.append(Problem.make("not-processed", file=result.path, reason=type(error).__name__))


def _validate_all(
    drive: Drive,
    profile: Profile,
    register: Register,
    files: Sequence[tuple[str, Path]],
    progress: Callable[[str], None] | None,
) -> list[Validated]:
    """Every file's result, in order: skipped as already registered, or validated and packed.

    A file whose bytes are already registered is not validated again; the others are
    validated across the cores (sheetsync.validate_parallel) and come back packed.
    """
    training_keys = register.current_keys(Training.sheet_name)
    return validate_night(
        register,
        files,
        partial(_validate_one, drive, profile, training_keys=training_keys),
        display_name=drive.display_name,
        progress=None if progress is None else (lambda path: progress(drive.display_name(path))),
    )


class _NightChecks:
    """The checks that look beyond one file, applied to each file as consolidation reaches it.

    Enterprise references are checked against the register and every file of the night (an
    agency may audit an enterprise a district registers the same night): the night's keys come
    from what the workers packed with each result, so no file has to be unpacked before its
    turn.  Ownership (:func:`_isolate`) goes in upload order: what an earlier file of the night
    registered counts as owned by its submitter for the later files, exactly as if it had been
    in the register already.
    """

    def __init__(self, profile: Profile, register: Register, validated: Sequence[Validated]) -> None:
        packed = [item for item in validated if isinstance(item, PackedResult)]
        night = set().union(*(item.enterprise_keys for item in packed))
        referenced = set().union(*(item.referenced for item in packed))
        self.known = night | register.existing_keys(Enterprise.sheet_name, referenced - night)
        # the enterprises ownership may have to judge a row by: those registered or referred to
        self.codes = {str(key[0]) for key in night | referenced}
        self.profile = profile
        self.register = register
        self.owned: Ownership | None = None  # loaded when the first file with rows needs it

    def outcome(self, folder: str, path: Path, item: Validated) -> FileOutcome | None:
        """The file's outcome with the night's checks done; None for a blank template."""
        result = item.unpack() if isinstance(item, PackedResult) else item
        # a blank template waiting in a folder (as `sheetsync init` leaves one) is not a submission
        if _blank_template(result):
            return None
        outcome = FileOutcome(submitter=folder, result=result, source=path)
        check_references(result, References(keys={Enterprise.sheet_name: self.known}), targets=[Enterprise])
        # a file with no valid rows (already registered, or all refused) has nothing to keep it from
        if any(sheet.valid_rows for sheet in result.sheets):
            _isolate(outcome, self)
        return outcome

    def ownership(self) -> Ownership:
        if self.owned is None:
            trainings = ownership_from_register((), self.register.current(Training.sheet_name)).trainings
            self.owned = Ownership(
                enterprises=_registered_facts(self.register, self.codes), trainings=dict(trainings)
            )
        return self.owned


def _isolate(outcome: FileOutcome, checks: _NightChecks) -> None:
    """Keep the file to the records its submitter owns; what it keeps counts as theirs from now on."""
    submitter = checks.profile.submitter(outcome.result.submitter or outcome.submitter)
    if submitter is None:
        return
    owned = checks.ownership()
    check_ownership(outcome.result, submitter, owned)
    for sheet in outcome.result.sheets:
        if sheet.sheet_name == Enterprise.sheet_name:
            for row in sheet.valid_rows:
                uscc = row.value("uscc")
                if uscc is not None:
                    owned.enterprises.setdefault(uscc, EnterpriseFacts.of_row(row))
        elif sheet.sheet_name == Training.sheet_name:
            for row in sheet.valid_rows:
                training_id = row.value("training_id")
                if training_id is not None:
                    owned.trainings.setdefault(training_id, submitter.name)


def _registered_facts(register: Register, codes: Iterable[str]) -> dict[str, EnterpriseFacts]:
    """The register's facts on just the enterprises the night's rows name.

    Loading every enterprise of the register made a rerun with one changed file pay for the
    whole register; a row can only be judged by the enterprise it names.
    """
    with register.engine.connect() as conn:
        found = register.load_current(conn, Enterprise.sheet_name, (encode_key((code,)) for code in codes))
    return {str(current.data["uscc"]): EnterpriseFacts.of_data(current.data) for current in found.values()}


def _blank_template(result: FileResult) -> bool:
    return (
        result.readable
        and bool(result.sheets)
        and all(sheet.rows_seen == 0 for sheet in result.sheets)
        and not result.has_errors
    )


def _validate_one(
    drive: Drive, profile: Profile, folder: str, path: Path, training_keys: set[tuple[Any, ...]]
) -> Validated:
    name = drive.display_name(path)
    try:
        result = validate_file(
            path,
            display_name=name,
            expected_submitter=folder,
            profile=profile,
            references=References(keys={Training.sheet_name: set(training_keys)}),
        )
        prepare(result)  # in the worker: the merge then inserts what was encoded here
        return pack_result(result)
    except Exception as error:  # a bug or an OS error on one file must not stop the night
        log.exception("validating %s failed", name)
        result = FileResult(path=name, file_hash=_hash_or_blank(path), submitter=folder, stamp=None)
        _not_processed(result, error)
        return result


def _hash_or_blank(path: Path) -> str:
    try:
        return file_hash(path)
    except OSError:
        return ""
