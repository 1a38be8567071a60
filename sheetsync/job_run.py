"""One night of a job: settle the inbox, consolidate, answer every submitter, tidy the drive.

The order is what keeps submissions safe: a file is archived (or moved to ``rejected/``) only
after its rows are committed to the register and its feedback is written; a file whose
processing failed stays in the inbox and is tried again next night.  The run lock keeps two
runs apart, and the run record says what happened even when the run could not start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sheetsync.consolidate import Consolidation, FileOutcome, consolidate
from sheetsync.drive import Drive
from sheetsync.inbox import Look, archive_file, reject_file, settled_files, stat_look
from sheetsync.job import JobConfig
from sheetsync.master_files import publish_master
from sheetsync.records import FileStatus
from sheetsync.render_feedback import append_receipt, write_feedback
from sheetsync.runlock import run_lock
from sheetsync.runlog import RunDraft, recorded_run

log = logging.getLogger(__name__)

RECEIPT_NAME = "回执.csv"
# problems that make the whole file unusable as sent: it goes to rejected/ with the reason
REJECTING_CODES = frozenset(
    {"submitter-mismatch", "unknown-submitter", "unreadable-file", "unsupported-file", "no-contract-sheet"}
)


def feedback_dir(drive: Drive, submitter: str) -> Path:
    return drive.root / "feedback" / submitter


def rejection_reason(outcome: FileOutcome) -> str | None:
    """The Chinese reason a file goes to ``rejected/``, or None when it is archived."""
    reasons = [p.message for p in outcome.result.problems if p.code in REJECTING_CODES and p.is_error]
    return "\n".join(reasons) if reasons else None


class NightHandler:
    """What happens to each file once its rows are in the register."""

    def __init__(self, drive: Drive, processed_at: datetime) -> None:
        self.drive = drive
        self.processed_at = processed_at
        self.moves: dict[str, str] = {}  # display name → where the file went

    def __call__(self, outcome: FileOutcome, path: Path) -> None:
        self._answer(outcome, path)
        if any(p.code == "not-processed" for p in outcome.result.problems):
            self.moves[outcome.result.path] = "inbox"  # stays put, tried again next night
            return
        reason = rejection_reason(outcome)
        try:
            if reason is not None or not outcome.result.file_hash:
                moved = reject_file(
                    self.drive, outcome.submitter, path, reason or "文件无法读取", self.processed_at
                )
            else:
                moved = archive_file(
                    self.drive, outcome.submitter, path, outcome.result.file_hash, self.processed_at
                )
            self.moves[outcome.result.path] = self.drive.display_name(moved)
        except OSError as error:  # e.g. still open in Excel on the share: it stays and is retried
            log.warning("could not move %s: %s", path, error)
            self.moves[outcome.result.path] = "inbox"

    def _answer(self, outcome: FileOutcome, path: Path) -> None:
        folder = feedback_dir(self.drive, outcome.submitter)
        feedback: Path | None = None
        try:
            feedback = write_feedback(
                outcome.result, path, folder, submitter=outcome.submitter, processed_at=self.processed_at
            )
        except Exception:  # the rows are safe in the register; a missing feedback must not stop the night
            log.exception("feedback for %s failed", path)
        try:
            append_receipt(
                folder / RECEIPT_NAME,
                outcome.result,
                submitter=outcome.submitter,
                processed_at=self.processed_at,
                feedback_path=feedback,
            )
        except OSError:
            log.exception("receipt for %s failed", path)


def run_job(
    job: JobConfig,
    *,
    clock: Callable[[], datetime] = datetime.now,
    as_of: date | None = None,
    looks: Callable[[Path], Look] = stat_look,
    sleep: Callable[[float], None] = time.sleep,
    show_progress: bool = False,
) -> RunDraft:
    """One recorded run of ``job``; read ``exit_code`` and ``record`` from the result."""
    drive = job.layout
    with recorded_run(drive, job=job.name, clock=clock) as run, run_lock(drive, now=clock):
        now = clock().replace(microsecond=0)
        run.as_of = as_of or now.date()
        settled = settled_files(drive, looks=looks, sleep=sleep, settle_seconds=job.settle_seconds)
        run.logger.info(
            "inbox: %d settled, %d still changing, %d ignored, %d stray",
            len(settled.taken),
            len(settled.unsettled),
            len(settled.ignored),
            len(settled.stray),
        )
        handler = NightHandler(drive, now)
        report = _consolidate(job, run, settled.taken, handler, now, show_progress)
        _record(run, report, handler, settled_counts=(len(settled.unsettled), len(settled.stray)))
    return run


def _consolidate(
    job: JobConfig,
    run: RunDraft,
    taken: list[tuple[str, Path]],
    handler: NightHandler,
    now: datetime,
    show_progress: bool,
) -> Consolidation:
    def publish(written: Path) -> Path:
        assert job.master_path is not None
        published = publish_master(written, job.master_path, now=now, keep=job.keep_masters)
        run.master_written_beside = published.written_beside
        run.master_beside_path = published.path if published.written_beside else None
        run.logger.info("master: %s", published.describe())
        return published.path

    kwargs = dict(
        as_of=run.as_of,
        register_url=job.register_url,
        now=now,
        files=taken,
        after_merge=handler,
        publish=publish,
        frequency=job.period,
        master_path=job.master_path,
    )
    if not show_progress or not taken:
        return consolidate(job.layout, job.rules, **kwargs)  # type: ignore[arg-type]
    columns = (
        TextColumn("[bold]校验"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("", total=len(taken))

        def advance(name: str) -> None:
            bar.update(task, advance=1, description=Path(name).name)

        return consolidate(job.layout, job.rules, progress=advance, **kwargs)  # type: ignore[arg-type]


def _record(
    run: RunDraft, report: Consolidation, handler: NightHandler, *, settled_counts: tuple[int, int]
) -> None:
    statuses = [outcome.result.status for outcome in report.files]
    run.master = report.master_path
    run.counts = {
        "files": len(report.files),
        "accepted": statuses.count(FileStatus.ACCEPTED),
        "partly_accepted": statuses.count(FileStatus.PARTLY_ACCEPTED),
        "rejected": sum(1 for outcome in report.files if outcome.result.has_errors),
        "rows_accepted": sum(outcome.result.rows_accepted for outcome in report.files),
        "rows_rejected": sum(outcome.result.rows_rejected for outcome in report.files),
        "unsettled": settled_counts[0],
        "stray": settled_counts[1],
        "missing_submitters": len(report.missing_submitters),
    }
    run.files = [
        {
            "file": outcome.result.path,
            "submitter": outcome.submitter,
            "status": outcome.result.status.value,
            "hash": outcome.result.file_hash,
            "rows_accepted": outcome.result.rows_accepted,
            "rows_rejected": outcome.result.rows_rejected,
            "errors": sum(1 for p in outcome.result.problems if p.is_error),
            "moved_to": handler.moves.get(outcome.result.path),
        }
        for outcome in report.files
    ]
