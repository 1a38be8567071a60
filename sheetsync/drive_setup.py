"""Lay out a new shared drive: the folders, a job file, and a blank template for every submitter.

The blank templates sit in each submitter's inbox folder so a district finds the right workbook
where it must drop it; consolidation passes over a template that has no rows yet.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sheetsync.drive import Drive
from sheetsync.job import JobConfig, write_job
from sheetsync.profile import Profile
from sheetsync.render_template import template_filename, write_template
from sheetsync.schemas.stamp import period_of

FOLDERS = ("inbox", "archive", "rejected", "feedback", "master", "logs", "register", "sync_jobs")
DEFAULT_RUN_AT = "02:30"


class DriveExists(Exception):
    """The folder already holds a drive: init never overwrites submissions."""


def init_drive(root: Path, profile: Profile, *, today: date, run_at: str = DEFAULT_RUN_AT) -> Path:
    """Create the layout under ``root`` and return the job file's path."""
    drive = Drive(root)
    if drive.inbox.exists() or drive.settings_path.exists():
        raise DriveExists(f"“{root}”中已有共享盘(inbox 或 sheetsync.toml),不会覆盖")
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    period = period_of(today, profile.reporting)
    for submitter in profile.submitters:
        inbox = drive.submitter_folder(submitter.name)
        inbox.mkdir(parents=True, exist_ok=True)
        (root / "feedback" / submitter.name).mkdir(parents=True, exist_ok=True)
        write_template(
            inbox / template_filename(submitter.name, period),
            submitter=submitter.name,
            kind=submitter.kind,
            period=period,
            profile=profile.name,
            generated_on=today,
        )
    drive.write_settings(profile.name)
    job_path = root / "sync_jobs" / f"{profile.name}.toml"
    config = JobConfig.model_validate(
        {"name": profile.name, "drive": str(root.resolve()), "profile": profile.name, "run_at": run_at},
        context={"base": job_path.parent.resolve()},
    )
    return write_job(job_path, config)
