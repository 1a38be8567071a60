"""What tests/test_kill.py and tests/test_write_failures.py share: a small drive, its nights, a
child process that runs the real CLI (optionally to be killed at a chosen call), and a dump of
the register that compares one run with another.

The child is ``python -c CHILD`` with the repository on ``PYTHONPATH``: it imports sheetsync,
wraps the functions named in its plan with a counter, and calls the ``sheetsync`` CLI. A wrapper
sends SIGKILL to its own process when its function is called for the Nth time (before or after
the real call), so every kill point is a step of the program, not a moment in time, and the same
plan kills at the same step on every machine. Production code knows nothing about it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sheetsync.profile import load_profile
from sheetsync.render_template import write_template
from sheetsync.schemas import SubmitterKind
from sheetsync.uscc import check_character
from tests.postgres import raw_connection

REPO = Path(__file__).resolve().parents[1]
PROFILE = load_profile("guangzhou-2013")
AS_OF = "2014-11-30"
MASTER_NAME = "总台账.xlsx"
CHILD_TIMEOUT = 120  # a bound on a hung child, never an expectation of speed

# The child: counts calls of the plan's targets and kills itself at the plan's kill point.
CHILD = r"""
import atexit, importlib, json, os, signal, sys

plan = json.loads(sys.argv[1])
counts = {}

def resolve(target):
    module_name, _, attr_path = target.partition(":")
    owner = importlib.import_module(module_name)
    *parents, name = attr_path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    return owner, name

def install(key, target, match, kill):
    owner, name = resolve(target)
    real = getattr(owner, name)
    counts[key] = 0
    def hooked(*args, **kwargs):
        if match is not None and match not in repr(args):
            return real(*args, **kwargs)
        counts[key] += 1
        due = kill is not None and counts[key] == kill["nth"]
        if due and kill["when"] == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(*args, **kwargs)
        if due and kill["when"] == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    setattr(owner, name, hooked)

kill = plan.get("kill")
for key, (target, match) in plan["targets"].items():
    install(key, target, match, kill if kill is not None and kill["key"] == key else None)
if plan.get("census"):
    atexit.register(lambda: open(plan["census"], "w").write(json.dumps(counts)))
if plan.get("fsize") is not None:
    import resource
    resource.setrlimit(resource.RLIMIT_FSIZE, (plan["fsize"], plan["fsize"]))

from sheetsync.cli import app
sys.argv = ["sheetsync", *sys.argv[2:]]
app()
"""


def code(n: int) -> str:
    first17 = f"914401047{n:08d}"
    return first17 + check_character(first17)


def enterprise(n: int, district: str, phone: str = "020-83000000") -> dict[str, str]:
    return {
        "统一社会信用代码": code(n),
        "企业名称": f"广州市{district}测试{n}有限公司",
        "所属区县": district,
        "行业门类": "C 制造业",
        "企业类别": "规模以上工业",
        "审核类型": "自愿",
        "联系电话": phone,
    }


def audit(n: int) -> dict[str, Any]:
    return {
        "统一社会信用代码": code(n),
        "审核轮次": 1,
        "审核方式": "全面审核",
        "启动日期": date(2014, 3, 1),
    }


def submission(path: Path, submitter: str, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> Path:
    return write_template(
        path,
        submitter=submitter,
        kind=SubmitterKind.DISTRICT,
        period="2014-11",
        profile=PROFILE.name,
        rows=rows,
        generated_on=date(2014, 11, 1),
    )


def make_drive(root: Path, register_url: str | None = None) -> Path:
    """A drive with a job file (relative paths: the copy of a drive is a drive) and night 1's file."""
    for folder in ("inbox", "archive", "rejected", "feedback", "master", "register", "logs", "sync_jobs"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "sheetsync.toml").write_text(f'profile = "{PROFILE.name}"\n', encoding="utf-8")
    lines = [
        'name = "kill-test"',
        'drive = ".."',
        f'profile = "{PROFILE.name}"',
        'run_at = "02:30"',
        "settle_seconds = 0",
        "keep_masters = 3",
        'submitters = ["越秀区", "海珠区", "荔湾区"]',
    ]
    if register_url is not None:
        lines.append(f"register_url = {json.dumps(register_url)}")
    (root / "sync_jobs" / "job.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    inbox = root / "inbox"
    submission(
        inbox / "越秀区" / "越秀区_10月.xlsx",
        "越秀区",
        {"企业名录": [enterprise(n, "越秀区") for n in (1, 2, 3)], "审核进度": [audit(1)]},
    )
    return root / "sync_jobs" / "job.toml"


def add_second_night(root: Path) -> None:
    """Night 2: changes and new rows, a bad row, a file in the wrong folder, a file sent twice."""
    inbox = root / "inbox"
    yuexiu = [enterprise(1, "越秀区", "020-83999999"), enterprise(4, "越秀区")]
    wrong = code(5)[:-1] + ("0" if code(5)[-1] != "0" else "1")
    yuexiu.append(dict(enterprise(5, "越秀区"), 统一社会信用代码=wrong))  # a wrong check character
    submission(
        inbox / "越秀区" / "越秀区_11月.xlsx",
        "越秀区",
        {"企业名录": yuexiu, "审核进度": [dict(audit(1), 报告提交日期=date(2014, 10, 8)), audit(4)]},
    )
    submission(
        inbox / "海珠区" / "海珠区_11月.xlsx",
        "海珠区",
        {"企业名录": [enterprise(n, "海珠区") for n in (11, 12)], "审核进度": [audit(11)]},
    )
    submission(inbox / "荔湾区" / "海珠区_错放.xlsx", "海珠区", {"企业名录": [enterprise(13, "海珠区")]})
    night1 = root / "archive"
    sent_again = next(night1.rglob("*越秀区_10月.xlsx"))
    shutil.copy2(sent_again, inbox / "越秀区" / "越秀区_10月(再次上传).xlsx")


def inbox_hashes(root: Path) -> dict[str, str]:
    """Display path → SHA-256 of every file waiting in the inbox."""
    return {
        str(path.relative_to(root)): sha256(path)
        for path in sorted((root / "inbox").rglob("*"))
        if path.is_file()
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hashes_under(folder: Path) -> set[str]:
    return {sha256(path) for path in folder.rglob("*") if path.is_file() and not path.name.endswith(".tmp")}


@dataclass
class ChildRun:
    returncode: int
    stdout: str
    stderr: str
    counts: dict[str, int]


def run_child(
    job: Path,
    *,
    targets: Mapping[str, tuple[str, str | None]] | None = None,
    kill: Mapping[str, Any] | None = None,
    census: Path | None = None,
    fsize: int | None = None,
    prefix: Sequence[str] = (),
    extra_args: Sequence[str] = (),
) -> ChildRun:
    """``sheetsync consolidate --job JOB`` in a child, with hooks; ``prefix`` runs it under another command."""
    plan = {
        "targets": dict(targets or {}),
        "kill": dict(kill) if kill is not None else None,
        "census": str(census) if census is not None else None,
        "fsize": fsize,
    }
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("SHEETSYNC_DEBUG", None)  # the officer's view: Chinese messages, no traceback
    command = [
        *prefix,
        sys.executable,
        "-c",
        CHILD,
        json.dumps(plan),
        "consolidate",
        "--job",
        str(job),
        "--as-of",
        AS_OF,
        *extra_args,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=CHILD_TIMEOUT, env=env, cwd=REPO, check=False
    )
    counts = json.loads(census.read_text()) if census is not None and census.exists() else {}
    return ChildRun(done.returncode, done.stdout, done.stderr, counts)


# The register, compared -------------------------------------------------------------------------


def register_dump(url: str) -> dict[str, Any]:
    """The register's content as a run should leave it, read with the plain database driver.

    What legitimately differs between two runs over the same files is left out: row ids (a
    version's submission is named by its submitter and file hash instead), the wall-clock times
    (received_at, recorded_at, superseded_at: only whether a version is superseded counts), and
    in each run record its start time and the absolute master path (each copy of a drive has its
    own). Everything else (every submission with its status, counts and problems; every version
    of every record with its data, provenance and source row; every run record's summary) must
    be equal.
    """
    with raw_connection(url) as conn:
        tables = _tables(conn, url)
        rows = {name: _rows(conn, name) for name in tables}
    submissions = {row["id"]: (row["submitter"], row["file_hash"]) for row in rows.get("submissions", [])}
    dump: dict[str, Any] = {}
    for name, table_rows in rows.items():
        if name == "submissions":
            kept = [_without(row, "id", "received_at") for row in table_rows]
        elif name == "record_versions":
            kept = [
                dict(
                    _without(row, "id", "submission_id", "recorded_at", "superseded_at"),
                    submission=submissions[row["submission_id"]],
                    superseded=row["superseded_at"] is not None,
                )
                for row in table_rows
            ]
        elif name == "runs":
            kept = [_run_summary(row["summary_json"]) for row in sorted(table_rows, key=lambda r: r["id"])]
            dump[name] = kept  # in order: the log of runs
            continue
        else:
            kept = [_without(row, "id") for row in table_rows]
        dump[name] = sorted(kept, key=lambda row: json.dumps(row, sort_keys=True, default=str))
    return dump


def _run_summary(summary_json: str) -> dict[str, Any]:
    summary = json.loads(summary_json)
    summary.pop("started_at", None)
    summary.pop("master", None)
    return summary


def _tables(conn: Any, url: str) -> list[str]:
    if url.startswith("sqlite"):
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    return sorted(name for (name,) in conn.execute(query).fetchall())


def _rows(conn: Any, table: str) -> list[dict[str, Any]]:
    cursor = conn.execute(f'SELECT * FROM "{table}"')
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _without(row: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """The row without ``names``, values as text (a boolean as 0/1: SQLite's and PostgreSQL's agree)."""
    return {key: _text(value) for key, value in row.items() if key not in names}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(int(value)) if isinstance(value, bool) else str(value)
