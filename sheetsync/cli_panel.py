"""``sheetsync panel``: draw an expert panel into the register, and let anyone check a draw.

The output is what the office pastes into a meeting notice: the panel with each seat, the
reserves, who was left out and why, and the id and seed that let anyone re-run the draw.
Nothing here decides anything; :mod:`sheetsync.panel_record` does.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sheetsync.cli_common import DEFAULT_PROFILE, EXIT_OK, EXIT_PROBLEMS, UserError, console, friendly
from sheetsync.domain.panels import PanelShortage
from sheetsync.drive import Drive
from sheetsync.panel_record import (
    PURPOSES,
    PanelInputError,
    PanelRecord,
    VerifyResult,
    draw_and_record,
    verify_draw,
)
from sheetsync.profile import Profile, load_profile
from sheetsync.store import Register, open_register

panel_app = typer.Typer(
    help="评估、验收专家组的随机抽取与核验",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _drive_profile(drive: Drive) -> Profile:
    """The drive's own rules: the panel must follow the programme its register belongs to."""
    settings = drive.settings()
    name = settings.profile if settings is not None else DEFAULT_PROFILE
    try:
        return load_profile(name)
    except KeyError:
        raise UserError(f"共享盘设置的规则方案“{name}”不存在") from None


def _open(drive: Drive) -> Register:
    """The existing register only: opening a missing one would create an empty register silently."""
    if not drive.register_path.is_file():
        raise UserError(f"共享盘“{drive.root}”下还没有台账,请先运行 sheetsync consolidate")
    return open_register(drive.register_url)


def _day(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--as-of 应为 YYYY-MM-DD 格式的日期,收到“{text}”") from None


def _expert_cells(record: PanelRecord, expert_id: str) -> tuple[str, str, str, str]:
    """Register text escaped: a name like “某公司[广州]” must print, not be read as rich markup."""
    brief = record.brief(expert_id)
    return escape(expert_id), escape(brief.name), escape(brief.employer), escape("、".join(brief.specialties))


def _panel_table(record: PanelRecord) -> Table:
    """Required seats first, in the profile's order, so the office sees at once each is filled."""
    table = Table(title=f"专家组({record.purpose},{len(record.panel)}人)", header_style="bold")
    for heading in ("席位", "专家编号", "姓名", "工作单位", "专长"):
        table.add_column(heading, overflow="fold")
    seated = [holder for _, holder in record.seats]
    for expert_id in [*seated, *(other for other in record.panel if other not in seated)]:
        table.add_row(escape(record.seat_of(expert_id) or "—"), *_expert_cells(record, expert_id))
    for number, expert_id in enumerate(record.reserves, start=1):
        table.add_row(f"[dim]候补{number}[/dim]", *_expert_cells(record, expert_id))
    return table


def _reason_table(title: str, record: PanelRecord, reasons: tuple[tuple[str, str], ...]) -> Table:
    table = Table(title=title, header_style="bold")
    for heading in ("专家编号", "姓名", "工作单位", "原因"):
        table.add_column(heading, overflow="fold")
    for expert_id, reason in reasons:
        expert, name, employer, _ = _expert_cells(record, expert_id)
        table.add_row(expert, name, employer, escape(reason))
    return table


def _print_record(record: PanelRecord, drive: Path) -> None:
    console.print(
        f"[bold]被审核企业:[/bold]{record.enterprise}  用途:{record.purpose}  抽取日期:{record.as_of}"
    )
    console.print(_panel_table(record))
    if not record.reserves:
        console.print("候补:无(符合条件的专家已全部入选)")
    if record.exclusions:
        console.print(_reason_table("回避及不在库的专家", record, record.exclusions))
    if record.deferred:
        console.print(_reason_table("近期参加过专家组、靠后抽取的专家", record, record.deferred))
    console.print(f"候选专家 {len(record.candidates)} 名,回避或不在库 {len(record.exclusions)} 名。")
    console.print(f"[bold]抽取编号:{record.panel_id}  随机种子:{record.seed_text}[/bold]")
    console.print(f"任何人可复核:sheetsync panel verify --drive {drive} {record.panel_id}")


@panel_app.command("draw")
@friendly
def draw(
    drive: Annotated[Path, typer.Option(help="共享盘根目录")],
    enterprise: Annotated[str, typer.Option(help="被审核企业的统一社会信用代码")],
    purpose: Annotated[str, typer.Option(help="抽取用途:评估 或 验收")],
    size: Annotated[int | None, typer.Option(help="专家组人数;默认按规则方案")] = None,
    seed: Annotated[int | None, typer.Option(help="随机种子;省略时随机生成并记录")] = None,
    as_of: Annotated[str | None, typer.Option(help="抽取日期 YYYY-MM-DD,默认今天")] = None,
) -> None:
    """为一家企业的评估或验收随机抽取专家组,并记入台账。"""
    if purpose not in PURPOSES:
        raise UserError(f"--purpose 应为“{'”或“'.join(PURPOSES)}”,收到“{purpose}”")
    shared = Drive(drive)
    rules = _drive_profile(shared)
    with _open(shared) as register:
        try:
            record = draw_and_record(
                register,
                rules,
                enterprise_code=enterprise,
                purpose=purpose,
                size=size,
                seed=seed,
                as_of=_day(as_of),
            )
        except PanelShortage as error:
            raise UserError(f"{error.message};本次未抽取,台账中未记录任何结果") from None
        except PanelInputError as error:
            raise UserError(str(error)) from None
    _print_record(record, drive)


def _print_verification(result: VerifyResult) -> None:
    record = result.record
    console.print(
        f"抽取编号:{record.panel_id}  企业:{escape(record.enterprise)}  用途:{record.purpose}  "
        f"抽取日期:{record.as_of}  随机种子:{record.seed_text}"
    )
    if result.matches:
        console.print(
            "[green]核验一致[/green]:按记录的输入和随机种子重新抽取,专家组、候补和回避名单与记录相同。"
        )
        console.print(f"专家组:{escape(record.panel_text)}")
        return
    console.print("[red]核验不一致[/red]:重新抽取的结果与台账记录不同。")
    for difference in result.differences:
        console.print(f"  - {escape(difference)}")


@panel_app.command("verify")
@friendly
def verify(
    panel_id: Annotated[str, typer.Argument(metavar="ID", help="抽取编号,如 P20141130-0001")],
    drive: Annotated[Path, typer.Option(help="共享盘根目录")],
) -> None:
    """按记录的随机种子重新抽取,核对与台账记录是否一致。退出码:0 一致,1 不一致。"""
    shared = Drive(drive)
    rules = _drive_profile(shared)
    with _open(shared) as register:
        try:
            result = verify_draw(register, rules, panel_id)
        except PanelInputError as error:
            raise UserError(str(error)) from None
    _print_verification(result)
    raise typer.Exit(EXIT_OK if result.matches else EXIT_PROBLEMS)
