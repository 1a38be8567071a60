"""The examples in ``sync_jobs/`` work: job files load, and cron, systemd and Windows run the same command."""

from __future__ import annotations

import configparser
import ntpath
import re
import shlex
from pathlib import Path, PurePosixPath

import defusedxml.ElementTree as ElementTree
import pytest

from sheetsync.job import load_job

SYNC_JOBS = Path(__file__).resolve().parent.parent / "sync_jobs"
TASK_NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
EXAMPLE_JOB = SYNC_JOBS / "guangzhou-2013.toml"

Command = tuple[str, tuple[str, ...], str]  # (program, sub-command and options, job file name)


def _command(program: str, args: list[str]) -> Command:
    name = ntpath.basename(program) if "\\" in program else PurePosixPath(program).name
    assert args[:2] == ["consolidate", "--job"], args
    job = args[2].strip('"')
    job_name = ntpath.basename(job) if "\\" in job else PurePosixPath(job).name
    return name.removesuffix(".exe"), tuple(args[:2]), job_name


def _systemd(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True, comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((SYNC_JOBS / name).read_text(encoding="utf-8"))
    return parser


def _cron_line() -> list[str]:
    lines = [
        line
        for line in (SYNC_JOBS / "cron.example").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(lines) == 1
    return shlex.split(lines[0])


@pytest.mark.parametrize("path", sorted(SYNC_JOBS.glob("*.toml")), ids=lambda p: p.name)
def test_every_example_job_loads(path: Path) -> None:
    job = load_job(path)
    assert job.name and job.submitters and job.run_at


def test_cron_systemd_and_windows_run_the_same_command_at_the_jobs_time() -> None:
    job = load_job(EXAMPLE_JOB)
    hour, minute = job.run_at.split(":")

    cron = _cron_line()
    assert (int(cron[0]), int(cron[1]), cron[2:5]) == (int(minute), int(hour), ["*", "*", "*"])
    redirect = next(i for i, part in enumerate(cron) if part.startswith(">"))
    from_cron = _command(cron[5], cron[6:redirect])

    service, timer = _systemd("sheetsync.service"), _systemd("sheetsync.timer")
    assert service["Service"]["Type"] == "oneshot"
    assert "1" in service["Service"]["SuccessExitStatus"].split()  # files rejected is a normal night
    exec_start = shlex.split(service["Service"]["ExecStart"])
    from_systemd = _command(exec_start[0], exec_start[1:])
    assert timer["Timer"]["Persistent"] == "true"  # a night missed while off runs at boot
    assert timer["Timer"]["OnCalendar"] == f"*-*-* {job.run_at}:00"
    assert timer["Timer"]["Unit"] == "sheetsync.service"
    assert timer["Install"]["WantedBy"] == "timers.target"

    task = ElementTree.parse(SYNC_JOBS / "windows-task.xml").getroot()
    assert task.tag == f"{{{TASK_NS['t']}}}Task"
    assert task.findtext("t:Settings/t:StartWhenAvailable", namespaces=TASK_NS) == "true"
    assert task.findtext("t:Settings/t:MultipleInstancesPolicy", namespaces=TASK_NS) == "IgnoreNew"
    boundary = task.findtext("t:Triggers/t:CalendarTrigger/t:StartBoundary", namespaces=TASK_NS) or ""
    assert boundary.endswith(f"T{job.run_at}:00")
    assert (
        task.findtext("t:Triggers/t:CalendarTrigger/t:ScheduleByDay/t:DaysInterval", namespaces=TASK_NS)
        == "1"
    )
    program = task.findtext("t:Actions/t:Exec/t:Command", namespaces=TASK_NS) or ""
    arguments = task.findtext("t:Actions/t:Exec/t:Arguments", namespaces=TASK_NS) or ""
    from_windows = _command(program, shlex.split(arguments, posix=False))

    expected = ("sheetsync", ("consolidate", "--job"), EXAMPLE_JOB.name)
    assert from_cron == from_systemd == from_windows == expected


def test_readme_names_every_example() -> None:
    readme = (SYNC_JOBS / "README.md").read_text(encoding="utf-8")
    for path in SYNC_JOBS.iterdir():
        if path.name != "README.md":
            assert path.name in readme, path.name
    assert "sheetsync run --job" in readme


def test_the_commented_google_section_loads_once_uncommented(tmp_path: Path) -> None:
    """An office enables Google Sheets by removing the '# ' of the example's [google] lines."""
    text = EXAMPLE_JOB.read_text(encoding="utf-8")
    start = text.index("# [google]")
    setting = re.compile(r"^# ([a-z_]+ = .*)$")
    google = [m.group(1) for line in text[start:].splitlines() if (m := setting.match(line))]
    body = text[:start] + "[google]\n" + "\n".join(google) + "\n"
    job_file = tmp_path / "sync_jobs" / EXAMPLE_JOB.name
    job_file.parent.mkdir()
    job_file.write_text(body, encoding="utf-8")
    job = load_job(job_file)
    assert job.google is not None
    assert job.google.sources == {"番禺区": "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg"}
    assert job.google.publish_key and job.google.max_tries == 5 and job.google.max_seconds == 60
    assert job.google.endpoint == "https://sheets.googleapis.com"
