"""The ``sheetsync`` command: the library's functions, one sub-command each.

Every command prints Chinese for the officer, ``--json`` for scripts, and ends with an exit
code a scheduler can act on; no command ever ends in a Python traceback (set
``SHEETSYNC_DEBUG=1`` to see one).
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sheetsync.cli_common import (
    DEFAULT_PROFILE,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PROBLEMS,
    UserError,
    console,
    err_console,
    friendly,
)
from sheetsync.cli_panel import panel_app
from sheetsync.drive import Drive
from sheetsync.errors import Problem, problems_as_json
from sheetsync.profile import Profile, load_profile, shipped_profiles
from sheetsync.records import FILE_STATUS_LABELS, FileResult, FileStatus
from sheetsync.schemas import SubmitterKind
from sheetsync.schemas.stamp import is_period, period_of

app = typer.Typer(
    help="清洁生产填报工作簿的校验、汇总与总台账生成 (sheetsync)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _profile(name: str | None, drive: Drive | None = None) -> Profile:
    if name is None and drive is not None and (settings := drive.settings()) is not None:
        name = settings.profile
    try:
        return load_profile(name or DEFAULT_PROFILE)
    except KeyError:
        raise UserError(f"找不到规则方案“{name}”。可用的方案:{'、'.join(shipped_profiles())}") from None


def _as_of(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--as-of 应为 YYYY-MM-DD 格式的日期,收到“{text}”") from None


# ---------------------------------------------------------------------------- template


@app.command()
@friendly
def template(
    submitter: Annotated[str, typer.Option(help="填报单位名称,如 越秀区")],
    out: Annotated[Path, typer.Option(help="生成的模板文件路径 (.xlsx)")],
    kind: Annotated[SubmitterKind | None, typer.Option(help="单位类型;省略时按规则方案确定")] = None,
    period: Annotated[str | None, typer.Option(help="填报期间,如 2026-11 或 2026-Q4;默认本期")] = None,
    profile: Annotated[str | None, typer.Option(help="规则方案名称或 TOML 文件")] = None,
    prefill: Annotated[
        bool, typer.Option("--prefill", help="预填该单位在台账中的现有记录(需 --drive)")
    ] = False,
    drive: Annotated[Path | None, typer.Option(help="共享盘目录(预填时从其台账读取)")] = None,
) -> None:
    """生成某填报单位的填报模板;加 --prefill 时预填其现有记录,便于更新。"""
    from sheetsync.render_template import write_template

    shared = Drive(drive) if drive else None
    if prefill and shared is None:
        raise UserError("--prefill 需要同时给出 --drive 共享盘目录")
    rules = _profile(profile, shared)
    known = rules.submitter(submitter)
    if kind is None:
        if known is None:
            raise UserError(
                f"“{submitter}”不在规则方案“{rules.name}”的填报单位名单中;如确需生成,请用 --kind 指定单位类型"
            )
        kind = known.kind
    chosen_period = period or period_of(date.today(), rules.reporting)
    if not is_period(chosen_period):
        raise UserError(f"填报期间“{chosen_period}”格式不对,应如 2026-11 或 2026-Q4")
    if out.suffix.lower() != ".xlsx":
        raise UserError("模板文件名须以 .xlsx 结尾")
    rows = None
    if prefill and shared is not None:
        if not shared.register_path.is_file():
            raise UserError(f"共享盘“{shared.root}”还没有台账(register/register.sqlite),请先汇总一次")
        from sheetsync.prefill import prefill_rows
        from sheetsync.store import open_register

        rows = prefill_rows(open_register(shared.register_url), submitter, kind)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_template(out, submitter=submitter, kind=kind, period=chosen_period, profile=rules.name, rows=rows)
    count = sum(len(sheet_rows) for sheet_rows in (rows or {}).values())
    console.print(f"已生成模板:{out}" + (f"(预填 {count} 条现有记录)" if prefill else ""))


# ---------------------------------------------------------------------------- validate


def _problem_table(problems: list[Problem]) -> Table:
    table = Table(show_lines=False, header_style="bold")
    for heading in ("位置", "代码", "列", "填写值", "说明"):
        table.add_column(heading, overflow="fold")
    for problem in problems:
        style = "red" if problem.is_error else "yellow"
        table.add_row(
            " › ".join(p for p in (problem.sheet, problem.cell) if p) or "(整个文件)",
            f"[{style}]{problem.code}[/{style}]",
            problem.header or "",
            problem.value or "",
            problem.message,
        )
    return table


def _print_file(result: FileResult) -> None:
    status = result.status
    colour = {FileStatus.ACCEPTED: "green", FileStatus.PARTLY_ACCEPTED: "yellow"}.get(status, "red")
    console.print(
        f"[bold]{result.path}[/bold]  [{colour}]{FILE_STATUS_LABELS[status]}[/{colour}]  "
        f"接收 {result.rows_accepted} 行,退回 {result.rows_rejected} 行"
    )
    if result.problems:
        console.print(_problem_table(result.problems))


def _exit_code(results: list[FileResult]) -> int:
    if any(not result.readable for result in results):
        return EXIT_FAILED
    if any(result.has_errors for result in results):
        return EXIT_PROBLEMS
    return EXIT_OK


@app.command()
@friendly
def validate(
    files: Annotated[list[Path], typer.Argument(help="要校验的文件 (.xlsx .xlsm .xls .ods .csv)")],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
    submitter: Annotated[str | None, typer.Option(help="应有的填报单位,与文件中的标记核对")] = None,
    profile: Annotated[str | None, typer.Option(help="规则方案名称或 TOML 文件")] = None,
    drive: Annotated[Path | None, typer.Option(help="共享盘目录:对照总台账核对引用的企业和培训")] = None,
) -> None:
    """逐格校验填报文件。退出码:0 无错误,1 有错误行,2 有文件无法读取。"""
    from sheetsync.validate import References, validate_file

    shared = Drive(drive) if drive else None
    rules = _profile(profile, shared)
    references = References()
    if shared is not None and shared.register_path.is_file():
        from sheetsync.schemas import Enterprise, Training
        from sheetsync.store import open_register

        register = open_register(shared.register_url)
        references = References(
            keys={name: register.current_keys(name) for name in (Enterprise.sheet_name, Training.sheet_name)}
        )
    results = [
        validate_file(
            path, display_name=str(path), expected_submitter=submitter, profile=rules, references=references
        )
        for path in files
    ]
    if as_json:
        payload = [
            {
                "file": result.path,
                "status": result.status.value,
                "rows_accepted": result.rows_accepted,
                "rows_rejected": result.rows_rejected,
                "problems": problems_as_json(result.problems),
            }
            for result in results
        ]
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    else:
        for result in results:
            _print_file(result)
    raise typer.Exit(_exit_code(results))


# ---------------------------------------------------------------------------- consolidate


@app.command()
@friendly
def consolidate(
    drive: Annotated[Path | None, typer.Option(help="共享盘根目录(其下有 inbox/<填报单位>/)")] = None,
    job: Annotated[
        Path | None, typer.Option(help="作业文件:按作业汇总一次(归档、退回、反馈、运行记录)")
    ] = None,
    as_of: Annotated[str | None, typer.Option(help="基准日期 YYYY-MM-DD,默认今天")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出每个文件的处理结果")] = False,
    profile: Annotated[str | None, typer.Option(help="规则方案;默认取共享盘 sheetsync.toml 中的设置")] = None,
) -> None:
    """汇总收件箱中的全部文件,更新台账并生成总台账工作簿。

    退出码:0 全部接收,1 已运行但有文件或行被退回,2 无法运行(或总台账未能写入,数据已存入台账),
    3 另一次汇总正在使用该共享盘或台账。
    """
    if (drive is None) == (job is None):
        raise UserError("请给出 --drive 共享盘目录或 --job 作业文件(二选一)")
    if job is not None:
        raise typer.Exit(_run_job_once(job, as_of=as_of, as_json=as_json))
    from sheetsync.consolidate import MasterNotWritten
    from sheetsync.consolidate import consolidate as run_consolidation
    from sheetsync.master_files import remove_stale_temporaries
    from sheetsync.runlock import run_lock

    assert drive is not None
    shared = Drive(drive)
    if not shared.inbox.is_dir():
        raise UserError(f"共享盘“{drive}”下没有 inbox 文件夹")
    rules = _profile(profile, shared)
    failure: MasterNotWritten | None = None
    # the drive's run lock, as for a job: two runs must not race on one master
    with run_lock(shared):
        remove_stale_temporaries(shared.master_path)
        try:
            report = run_consolidation(shared, rules, as_of=_as_of(as_of))
        except MasterNotWritten as error:  # the data is in the register; say what was taken
            report, failure = error.report, error
    if as_json:
        payload = report.as_json()
        if failure is not None:
            payload.update(master=None, error=str(failure))
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    else:
        _print_consolidation(report, master_written=failure is None)
    if failure is not None:
        err_console.print(f"[red]运行失败:[/red]{failure}")
        raise typer.Exit(EXIT_FAILED)
    results = [outcome.result for outcome in report.files]
    raise typer.Exit(EXIT_PROBLEMS if any(r.has_errors or not r.readable for r in results) else EXIT_OK)


def _load_job(path: Path) -> Any:
    from sheetsync.job import JobFileError, load_job

    try:
        config = load_job(path)
    except JobFileError as error:
        raise UserError(str(error)) from None
    if not config.layout.root.is_dir():
        raise UserError(f"作业文件中的共享盘目录“{config.layout.root}”不存在")
    return config


def _run_job_once(path: Path, *, as_of: str | None, as_json: bool) -> int:
    from sheetsync.job_run import run_job
    from sheetsync.runlog import describe_record

    config = _load_job(path)
    run = run_job(
        config, as_of=_as_of(as_of) if as_of else None, show_progress=console.is_terminal and not as_json
    )
    assert run.record is not None
    if as_json:
        sys.stdout.write(run.record.model_dump_json(indent=2) + "\n")
    else:
        console.print(describe_record(run.record))
        if run.record.master:
            console.print(f"总台账:{run.record.master}")
        if run.error:
            err_console.print(f"[red]{run.error}[/red]")
        console.print(f"日志:{run.log_path}")
    return run.exit_code


@app.command()
@friendly
def run(
    job: Annotated[Path, typer.Option(help="作业文件")],
) -> None:
    """常驻运行:每天在作业文件设定的时间汇总;错过的汇总在启动时补做。按 Ctrl-C 停止。"""
    import signal

    from sheetsync.job_run import run_job
    from sheetsync.nightly import serve

    config = _load_job(job)
    stopping: list[int] = []

    def request_stop(signum: int, _frame: Any) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, request_stop)
    console.print(f"作业“{config.name}”已启动,每天 {config.run_at} 汇总。按 Ctrl-C 停止。")
    try:
        serve(
            config,
            run_once=lambda: run_job(config, show_progress=console.is_terminal).exit_code,
            stop=lambda: bool(stopping),
        )
    except KeyboardInterrupt:
        pass
    console.print("已停止。")


@app.command()
@friendly
def init(
    directory: Annotated[Path, typer.Argument(help="新共享盘的根目录")],
    profile: Annotated[str, typer.Option(help="规则方案名称或 TOML 文件")] = DEFAULT_PROFILE,
    run_at: Annotated[str, typer.Option(help="每日汇总时间 HH:MM")] = "02:30",
) -> None:
    """新建共享盘:各文件夹、作业文件,以及每个填报单位文件夹中的空白模板。"""
    from sheetsync.drive_setup import DriveExists, init_drive

    rules = _profile(profile)
    try:
        job_path = init_drive(directory, rules, today=date.today(), run_at=run_at)
    except DriveExists as exists:
        raise UserError(str(exists)) from None
    console.print(f"已建立共享盘:{directory}({len(rules.submitters)} 个填报单位,每个文件夹中有空白模板)")
    console.print(f"作业文件:{job_path}")
    console.print(f"汇总一次:sheetsync consolidate --job {job_path}")


def _print_consolidation(report: Any, *, master_written: bool = True) -> None:
    table = Table(title=f"汇总结果(基准日期 {report.run.as_of})", header_style="bold")
    for heading in ("填报单位", "文件", "结果", "接收行", "退回行", "错误", "提示"):
        table.add_column(heading, overflow="fold")
    for outcome in report.files:
        summary = outcome.summary()
        table.add_row(
            summary.submitter,
            summary.file_name,
            FILE_STATUS_LABELS[summary.status],
            str(summary.rows_accepted),
            str(summary.rows_rejected),
            str(summary.errors),
            str(summary.warnings),
        )
    console.print(table)
    if master_written:
        console.print(f"总台账:{report.master_path}")


# ---------------------------------------------------------------------------- status


@app.command()
@friendly
def status(
    drive: Annotated[Path, typer.Option(help="共享盘根目录")],
    period: Annotated[
        str | None, typer.Option(help="填报期间,如 2014-11 或 2014-Q4;默认基准日期所在期间")
    ] = None,
    as_of: Annotated[str | None, typer.Option(help="基准日期 YYYY-MM-DD,默认今天")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
    profile: Annotated[str | None, typer.Option(help="规则方案;默认取共享盘 sheetsync.toml 中的设置")] = None,
) -> None:
    """各填报单位本期报送情况;列出未报送的单位。退出码:0 全部已报送,1 有单位未报送。"""
    from sheetsync.status import period_status
    from sheetsync.store import open_register

    shared = Drive(drive)
    rules = _profile(profile, shared)
    chosen = period or period_of(_as_of(as_of), rules.reporting)
    if not is_period(chosen):
        raise UserError(f"填报期间“{chosen}”格式不对,应如 2014-11 或 2014-Q4")
    submissions = open_register(shared.register_url).submissions() if shared.register_path.is_file() else []
    lines = period_status(submissions, rules, chosen)
    if as_json:
        payload = {
            "period": chosen,
            "missing": [line.submitter for line in lines if not line.reported],
            "submitters": [
                {
                    "submitter": line.submitter,
                    "reported": line.reported,
                    "files": line.files,
                    "last_received": line.last_received.isoformat(timespec="seconds")
                    if line.last_received
                    else None,
                    "last_file": line.last_file,
                    "last_status": line.last_status.value if line.last_status else None,
                }
                for line in lines
            ],
        }
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    else:
        table = Table(title=f"{chosen} 报送情况", header_style="bold")
        for heading in ("填报单位", "本期", "文件数", "最近收到", "最近文件", "处理结果"):
            table.add_column(heading, overflow="fold")
        for line in lines:
            mark = "[green]已报送[/green]" if line.reported else "[red]未报送[/red]"
            table.add_row(
                line.submitter,
                mark,
                str(line.files),
                line.last_received.strftime("%Y-%m-%d %H:%M") if line.last_received else "",
                Path(line.last_file).name if line.last_file else "",
                FILE_STATUS_LABELS[line.last_status] if line.last_status else "",
            )
        console.print(table)
        missing = [line.submitter for line in lines if not line.reported]
        console.print(f"未报送:{'、'.join(missing)}" if missing else "本期全部单位已报送。")
    raise typer.Exit(EXIT_PROBLEMS if any(not line.reported for line in lines) else EXIT_OK)


# ---------------------------------------------------------------------------- demo


@app.command()
@friendly
def demo(
    directory: Annotated[Path, typer.Argument(help="演示共享盘目录(将新建)")],
    as_of: Annotated[str, typer.Option(help="演示的基准日期")] = "2014-11-30",
) -> None:
    """用内置演示数据建一个广州 2013 方案的共享盘,汇总并输出总台账路径。"""
    from sheetsync.consolidate import consolidate as run_consolidation
    from sheetsync.demo import build_demo_drive

    shared = Drive(directory)
    if directory.exists() and any(directory.iterdir()):
        settings = shared.settings()
        if settings is None or not settings.demo:
            raise UserError(f"目录“{directory}”已存在且不是演示共享盘;请换一个新目录")
        shutil.rmtree(directory)  # a previous demo: rebuild it from scratch
    day = _as_of(as_of)
    built = build_demo_drive(directory, as_of=day)
    shared.write_settings(DEFAULT_PROFILE, demo=True)
    console.print(f"已生成演示共享盘:{directory}({len(built.files)} 个填报文件)")
    report = run_consolidation(shared, load_profile(DEFAULT_PROFILE), as_of=day)
    _print_consolidation(report)
    console.print(str(report.master_path))


@app.command()
@friendly
def docs(
    out: Annotated[Path, typer.Option(help="输出的 Markdown 文件")] = Path("docs/workbook-contract.md"),
) -> None:
    """根据 schemas 生成填报工作簿约定文档。"""
    from sheetsync.docs import contract_markdown

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(contract_markdown(), encoding="utf-8")
    console.print(f"已写入:{out}")


app.add_typer(panel_app, name="panel", help="专家抽取:抽取评估或验收专家组,并可随时复核")


def main() -> None:  # pragma: no cover - console-script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
