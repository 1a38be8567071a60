"""One consolidation: read → validate → merge → render, over every file in a drive's inbox.

Each file is validated on its own, then enterprise references are checked against the register
and every file of the run together (an agency may audit an enterprise a district registered in
the same night).  Files are merged one by one, each in its own transaction, so a file that
fails cannot cost another file's rows or anything already in the register.  The register's
current records are then loaded once and serve both the master's register sheets and the
domain engine (:func:`sheetsync.programme.evaluate`), whose verdicts the master shows too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sheetsync.drive import Drive
from sheetsync.merge import MergeCounts, merge_file
from sheetsync.panel_record import list_draws
from sheetsync.profile import Profile
from sheetsync.programme import ProgrammeView, evaluate
from sheetsync.records import FileResult, FileSummary, RunInfo
from sheetsync.render_master import write_master
from sheetsync.schemas import SHEETS, Enterprise, Training
from sheetsync.store import Register, open_register
from sheetsync.validate import References, check_references, enterprise_keys, validate_file


@dataclass
class FileOutcome:
    submitter: str
    result: FileResult
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

    @property
    def any_errors(self) -> bool:
        return any(outcome.result.has_errors for outcome in self.files)

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.run.as_of.isoformat(),
            "started_at": self.run.started_at.isoformat(timespec="seconds"),
            "profile": self.run.profile_name,
            "master": str(self.master_path),
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
) -> Consolidation:
    started_at = now or datetime.now().replace(microsecond=0)
    if register_url is None:
        drive.register_path.parent.mkdir(parents=True, exist_ok=True)
    register = open_register(register_url or drive.register_url)
    outcomes = _validate_all(drive, profile, register)
    for outcome in outcomes:
        # every file is recorded as a submission, even one with nothing to merge, so its
        # problems stay on file for the office; a file already registered changes nothing
        outcome.already_registered = (
            register.find_submission(outcome.result.submitter or outcome.submitter, outcome.result.file_hash)
            is not None
        )
        outcome.merged = merge_file(
            register, outcome.result, file_name=outcome.result.path, received_at=started_at
        )
    run = RunInfo(
        as_of=as_of,
        started_at=started_at,
        profile_name=profile.name,
        profile_title=profile.title,
        drive=str(drive.root),
    )
    records = {model.sheet_name: register.current(model.sheet_name) for model in SHEETS}
    view = evaluate(records, profile, as_of)
    drive.master_dir.mkdir(parents=True, exist_ok=True)
    master = write_master(
        drive.master_path,
        records=records,
        problems=[problem for outcome in outcomes for problem in outcome.result.problems],
        files=[outcome.summary() for outcome in outcomes],
        run=run,
        view=view,
        panel_draws=list_draws(register),
    )
    report = Consolidation(run=run, master_path=master, files=outcomes, view=view)
    register.record_run(
        started_at=started_at,
        finished_at=datetime.now().replace(microsecond=0),
        as_of=as_of,
        summary=report.as_json(),
    )
    return report


def _validate_all(drive: Drive, profile: Profile, register: Register) -> list[FileOutcome]:
    training_keys = register.current_keys(Training.sheet_name)
    outcomes = [
        FileOutcome(
            submitter=folder,
            result=validate_file(
                path,
                display_name=drive.display_name(path),
                expected_submitter=folder,
                profile=profile,
                references=References(keys={Training.sheet_name: training_keys}),
            ),
        )
        for folder, path in drive.submissions()
    ]
    known = register.current_keys(Enterprise.sheet_name) | enterprise_keys(o.result for o in outcomes)
    for outcome in outcomes:
        check_references(
            outcome.result, References(keys={Enterprise.sheet_name: known}), targets=[Enterprise]
        )
    return outcomes
