"""One night of a job: settle the inbox, consolidate, answer every submitter, tidy the drive.

The order is what keeps submissions safe: a file is archived (or moved to ``rejected/``) only
after the night's register transaction has committed and its feedback is written; a file whose
processing failed stays in the inbox and is tried again next night.  A night killed half-way
loses nothing: before the commit the register and the inbox are as they were; after it, the
files still in the inbox are recognised by their hash as registered and archived next night.
The drive's run lock keeps two runs of one drive apart (and lets the run remove the temporary
files a killed run left in the master folder); the register's exclusive lock keeps two
machines sharing a PostgreSQL register apart.  Either being held ends the night as ``busy``
(exit code 3).  A master that cannot be written (full disk, read-only folder) ends it as
``failed`` (exit code 2) with a Chinese reason naming the path, while the night's data stays
committed and the files are answered and archived as usual.  The run record says what happened
even when the run could not start.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Collection
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sheetsync.consolidate import Consolidation, FileOutcome, MasterNotWritten, consolidate
from sheetsync.drive import Drive
from sheetsync.inbox import Look, archive_file, reject_file, settled_files, stat_look
from sheetsync.job import JobConfig
from sheetsync.master_files import publish_master, remove_stale_temporaries, write_error_message
from sheetsync.read import file_hash
from sheetsync.records import FileStatus
from sheetsync.render_feedback import append_receipt, write_feedback
from sheetsync.runlock import run_lock
from sheetsync.runlog import RunDraft, recorded_run
from sheetsync.store import RegisterBusy

if TYPE_CHECKING:  # gspread is imported only by jobs that use Google
    from sheetsync.gsheets.nightly import GoogleAccess, GoogleNight, SourcesRead

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
    """What happens to each file once the night's register transaction has committed."""

    def __init__(self, drive: Drive, processed_at: datetime, snapshots: Collection[Path] = ()) -> None:
        self.drive = drive
        self.processed_at = processed_at
        # snapshots of Google sources: corrected in the sheet itself, so never sent to rejected/
        self.snapshots = frozenset(snapshots)
        self.moves: dict[str, str] = {}  # display name → where the file went

    def __call__(self, outcome: FileOutcome, path: Path) -> None:
        self._answer(outcome, path)
        if outcome.result.not_processed:
            # stays put, tried again next night (a Google sheet is read afresh then)
            self.moves[outcome.result.path] = "google" if path in self.snapshots else "inbox"
            return
        reason = rejection_reason(outcome)
        try:
            if path in self.snapshots:
                digest = outcome.result.file_hash or file_hash(path)
                moved = archive_file(self.drive, outcome.submitter, path, digest, self.processed_at)
            elif reason is not None or not outcome.result.file_hash:
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
    google: GoogleAccess | None = None,
) -> RunDraft:
    """One recorded run of ``job``; read ``exit_code`` and ``record`` from the result.

    ``google`` overrides how the job's ``[google]`` section reaches Google (credentials,
    clock); by default its service-account key file and real time.
    """
    drive = job.layout
    with recorded_run(drive, job=job.name, clock=clock) as run, run_lock(drive, now=clock):
        now = clock().replace(microsecond=0)
        run.as_of = as_of or now.date()
        assert job.master_path is not None
        remove_stale_temporaries(job.master_path)
        settled = settled_files(drive, looks=looks, sleep=sleep, settle_seconds=job.settle_seconds)
        run.logger.info(
            "inbox: %d settled, %d still changing, %d ignored, %d stray",
            len(settled.taken),
            len(settled.unsettled),
            len(settled.ignored),
            len(settled.stray),
        )
        night, sources = _read_google_sources(job, drive, now, google)
        snapshots = [path for _, path in sources.taken()] if sources is not None else []
        handler = NightHandler(drive, now, snapshots)
        taken = settled.taken + (sources.taken() if sources is not None else [])
        master_failure: MasterNotWritten | None = None
        try:
            report = _consolidate(job, run, taken, handler, now, show_progress)
        except RegisterBusy as busy:  # another machine's run on the shared register: as busy as the run lock
            run.status, run.error = "busy", str(busy)
            run.logger.warning("the register is held by another run: %s", busy.holder)
            return run
        except MasterNotWritten as failure:  # the data is committed and the files answered
            report, master_failure = failure.report, failure
        except Exception as error:
            message = write_error_message(error, register=_register_shown(job))
            if message is None:
                raise
            run.status, run.error = "failed", message  # a full disk: say so in Chinese, not as OSError
            run.logger.error("run failed:\n%s", traceback.format_exc())
            return run
        _record(run, report, handler, settled_counts=(len(settled.unsettled), len(settled.stray)))
        if master_failure is not None:
            run.status, run.error, run.master = "failed", str(master_failure), None
            run.logger.error("master not written: %s", master_failure.error)
        if night is not None and sources is not None:
            _record_google_sources(run, drive, sources, handler, now)
            if night.config.publish_key is not None and master_failure is None:
                _publish_google(run, night, drive, report.master_path)
    return run


def _register_shown(job: JobConfig) -> str:
    """The register as the officer knows it: the SQLite file's path, or the URL without password."""
    from sqlalchemy.engine import make_url

    url = make_url(job.register_url or job.layout.register_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return url.database
    return url.render_as_string(hide_password=True)


def _read_google_sources(
    job: JobConfig, drive: Drive, now: datetime, access: GoogleAccess | None
) -> tuple[GoogleNight | None, SourcesRead | None]:
    if job.google is None:
        return None, None
    from sheetsync.gsheets.nightly import GoogleNight, staging_dir

    night = GoogleNight(job.google, access)
    return night, night.read_sources(drive, staging_dir(drive, now))


def _record_google_sources(
    run: RunDraft, drive: Drive, sources: SourcesRead, handler: NightHandler, now: datetime
) -> None:
    """Mark the snapshots in the run record, add the sources not consolidated, remember what was."""
    from sheetsync.gsheets.nightly import clear_staging, record_entries, remember_consolidated

    by_name = {drive.display_name(snapshot.path): snapshot for snapshot in sources.changed}
    for entry in run.files:
        snapshot = by_name.get(entry["file"])
        if snapshot is not None:
            entry.update(source="google", key=snapshot.key, content_hash=snapshot.digest)
    archived = [
        snapshot
        for name, snapshot in by_name.items()
        if (handler.moves.get(name) or "").startswith("archive/")
    ]
    remember_consolidated(drive, archived, now)
    run.files.extend(record_entries(sources))
    run.counts["google_sources"] = len(sources.changed) + len(sources.unchanged) + len(sources.failures)
    run.counts["sources_unchanged"] = len(sources.unchanged)
    run.counts["sources_failed"] = len(sources.failures)
    if sources.failures and run.status is None:
        run.status = "files-rejected"  # ran, but not every submission could be taken
    clear_staging(drive)


def _publish_google(run: RunDraft, night: GoogleNight, drive: Drive, master: Path) -> None:
    """Publish the master to Google; a failure is logged and recorded, the night's data stands."""
    from sheetsync.gsheets.errors import GoogleSheetsError

    key = night.config.publish_key
    try:
        published = night.publish(drive, master)
    except GoogleSheetsError as error:
        message = error.message
    except Exception as error:  # a bug here must not turn a good night into a failed one
        run.logger.error("google publish failed:\n%s", night.redact(traceback.format_exc()))
        message = f"发布到 Google 表格“{key}”时出错({type(error).__name__}),详见运行日志"
    else:
        run.logger.info("google publish: %s", published.describe())
        run.counts["google_sheets_published"] = len(published.written)
        run.counts["google_sheets_unchanged"] = len(published.unchanged)
        return
    run.logger.warning("google publish failed: %s", message)
    run.counts["google_publish_failed"] = 1
    run.files.append(
        {
            "file": f"Google 表格:{key}",
            "submitter": None,
            "status": "publish-failed",
            "source": "google",
            "key": key,
            "message": message,
            "moved_to": None,
        }
    )


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
        after_commit=handler,
        publish=publish,
        frequency=job.period,
        master_path=job.master_path,
        max_register_rows=job.max_register_rows,
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
