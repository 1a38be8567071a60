"""One consolidation: read → validate → merge → render, over every file in a drive's inbox.

Each file is validated on its own, then enterprise references are checked against the register
and every file of the run together (an agency may audit an enterprise a district registered in
the same night).  Files are merged one by one, each in its own transaction, so a file that
fails cannot cost another file's rows or anything already in the register.  The register's
current records are then loaded once and serve both the master's register sheets and the
domain engine (:func:`sheetsync.programme.evaluate`), whose verdicts the master shows too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sheetsync.drive import Drive
from sheetsync.errors import Problem
from sheetsync.merge import MergeCounts, merge_file
from sheetsync.ownership import EnterpriseFacts, Ownership, check_ownership, ownership_from_register
from sheetsync.panel_record import list_draws
from sheetsync.profile import Profile
from sheetsync.programme import ProgrammeView, evaluate
from sheetsync.read import file_hash
from sheetsync.records import FileResult, FileSummary, RunInfo
from sheetsync.render_master import write_master
from sheetsync.schemas import SHEETS, Enterprise, Training
from sheetsync.schemas.stamp import period_of
from sheetsync.status import missing_submitters
from sheetsync.store import Register, open_register
from sheetsync.validate import References, check_references, enterprise_keys, validate_file

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
            "rows_accepted": {sheet.sheet_name: len(sheet.valid_rows) for sheet in self.result.sheets},
            "rows_rejected": {sheet.sheet_name: len(sheet.rejected_rows) for sheet in self.result.sheets},
            "merged": {
                name: {"inserted": c.inserted, "updated": c.updated, "unchanged": c.unchanged}
                for name, c in self.merged.items()
            },
            "problems": [problem.model_dump(mode="json") for problem in self.result.problems],
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


def consolidate(
    drive: Drive,
    profile: Profile,
    *,
    as_of: date,
    register_url: str | None = None,
    now: datetime | None = None,
    files: Sequence[tuple[str, Path]] | None = None,
    after_merge: Callable[[FileOutcome, Path], None] | None = None,
    publish: Callable[[Path], Path] | None = None,
    progress: Callable[[str], None] | None = None,
    frequency: str | None = None,
    master_path: Path | None = None,
) -> Consolidation:
    """Consolidate ``files`` (default: every file in the inbox) and write the master.

    ``after_merge`` runs for each file once its rows are committed (the nightly job writes the
    feedback and archives the file there); ``publish`` moves a freshly written master into place
    (default: written straight to the drive's master path).  A file that makes validation or
    merging fail is reported as ``not-processed`` and the others go on.
    """
    started_at = now or datetime.now().replace(microsecond=0)
    if register_url is None:
        drive.register_path.parent.mkdir(parents=True, exist_ok=True)
    register = open_register(register_url or drive.register_url)
    chosen = list(drive.submissions() if files is None else files)
    outcomes = _validate_all(drive, profile, register, chosen, progress)
    for outcome in outcomes:
        _merge_one(register, outcome, started_at)
        if after_merge is not None:
            after_merge(outcome, outcome.source)
    run = RunInfo(
        as_of=as_of,
        started_at=started_at,
        profile_name=profile.name,
        profile_title=profile.title,
        drive=str(drive.root),
    )
    records = {model.sheet_name: register.current(model.sheet_name) for model in SHEETS}
    view = evaluate(records, profile, as_of)
    missing = missing_submitters(
        register.submissions(), profile, period_of(as_of, frequency or profile.reporting), frequency=frequency
    )
    drive.master_dir.mkdir(parents=True, exist_ok=True)
    target = (
        drive.master_path if publish is None else drive.master_dir / f".{drive.master_path.stem}.new.xlsx"
    )
    master = write_master(
        target,
        records=records,
        problems=[problem for outcome in outcomes for problem in outcome.result.problems],
        files=[outcome.summary() for outcome in outcomes],
        run=run,
        view=view,
        panel_draws=list_draws(register),
        missing_submitters=missing,
    )
    if publish is not None:
        master = publish(master)
    report = Consolidation(run=run, master_path=master, files=outcomes, view=view, missing_submitters=missing)
    register.record_run(
        started_at=started_at,
        finished_at=datetime.now().replace(microsecond=0),
        as_of=as_of,
        summary=report.as_json(),
    )
    return report


def _merge_one(register: Register, outcome: FileOutcome, received_at: datetime) -> None:
    """Merge one file in its own transaction; a failure costs only this file, and only this night."""
    # every file is recorded as a submission, even one with nothing to merge, so its problems
    # stay on file for the office; a file already registered changes nothing
    submitter = outcome.result.submitter or outcome.submitter
    try:
        outcome.already_registered = register.find_submission(submitter, outcome.result.file_hash) is not None
        outcome.merged = merge_file(
            register, outcome.result, file_name=outcome.result.path, received_at=received_at
        )
    except Exception as error:  # the register rolled back; the other files must still go in
        log.exception("merging %s failed", outcome.result.path)
        _not_processed(outcome.result, error)


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
) -> list[FileOutcome]:
    training_keys = register.current_keys(Training.sheet_name)
    outcomes: list[FileOutcome] = []
    for folder, path in files:
        if progress is not None:
            progress(drive.display_name(path))
        result = _validate_one(drive, profile, folder, path, training_keys)
        outcomes.append(FileOutcome(submitter=folder, result=result, source=path))
    # a blank template waiting in a folder (as `sheetsync init` leaves one) is not a submission
    outcomes = [outcome for outcome in outcomes if not _blank_template(outcome.result)]
    known = register.current_keys(Enterprise.sheet_name) | enterprise_keys(o.result for o in outcomes)
    for outcome in outcomes:
        check_references(
            outcome.result, References(keys={Enterprise.sheet_name: known}), targets=[Enterprise]
        )
    _isolate(outcomes, profile, register)
    return outcomes


def _isolate(outcomes: list[FileOutcome], profile: Profile, register: Register) -> None:
    """Keep each file to the records its submitter owns, in upload order.

    What an earlier file of the night registered counts as owned by its submitter for the later
    files, exactly as if it had been in the register already.
    """
    ownership = ownership_from_register(
        register.current(Enterprise.sheet_name), register.current(Training.sheet_name)
    )
    enterprises, trainings = dict(ownership.enterprises), dict(ownership.trainings)
    for outcome in outcomes:
        submitter = profile.submitter(outcome.result.submitter or outcome.submitter)
        if submitter is None:
            continue
        check_ownership(outcome.result, submitter, Ownership(enterprises=enterprises, trainings=trainings))
        for sheet in outcome.result.sheets:
            for row in sheet.valid_rows:
                record = row.record
                if isinstance(record, Enterprise) and record.uscc is not None:
                    enterprises.setdefault(record.uscc, EnterpriseFacts.of(record))
                elif isinstance(record, Training) and record.training_id is not None:
                    trainings.setdefault(record.training_id, submitter.name)


def _blank_template(result: FileResult) -> bool:
    return (
        result.readable
        and bool(result.sheets)
        and all(sheet.rows_seen == 0 for sheet in result.sheets)
        and not result.has_errors
    )


def _validate_one(
    drive: Drive, profile: Profile, folder: str, path: Path, training_keys: set[tuple[Any, ...]]
) -> FileResult:
    name = drive.display_name(path)
    try:
        return validate_file(
            path,
            display_name=name,
            expected_submitter=folder,
            profile=profile,
            references=References(keys={Training.sheet_name: set(training_keys)}),
        )
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
