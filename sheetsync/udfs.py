"""Excel functions (xlwings UDFs) over the domain engine, for officers who work in Excel all day.

An officer should see an audit's stage or a certificate's state next to the row they are typing,
computed by the very rules the nightly run applies, not by a hand-made formula that drifts from
the profile. So every function here is a thin wrapper: it reads Excel-shaped input (rows as
lists, ``None`` for empty cells, dates as Excel serials or datetimes, numbers as floats, headers
matched like :mod:`sheetsync.validate` matches them), calls one engine function and returns what
a cell can show: a number, text, TRUE/FALSE or a 2-D array. Bad input comes back as
``"#错误: …"`` in the cell, because an officer can act on a Chinese sentence and not on a traceback.

xlwings' decorators only record anything on Windows; elsewhere they do nothing. The same metadata
(the Chinese texts of Excel's function wizard, the argument options) is therefore also kept in
:data:`UDFS`, so the functions are tested on Linux and ``macros/sheetsync_udfs.bas`` is checked
against them. Parameter annotations are only ``Any`` or ``list[...]`` on purpose: xlwings turns a
parameter's annotation into its converter, and a union such as ``X | None`` has none.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import ValidationError

from sheetsync.cli_common import DEFAULT_PROFILE
from sheetsync.domain import (
    PURPOSE_ACCEPTANCE,
    PURPOSE_EVALUATION,
    Owned,
    PanelDraw,
    PanelShortage,
    ProgrammeRecords,
    audit_status,
    certificate_status,
    draw_panel,
    progress,
)
from sheetsync.errors import CATALOGUE, render_message
from sheetsync.normalize import CellProblem, clean_text, is_blank, to_date, to_integer, to_uscc
from sheetsync.profile import Profile, load_profile, shipped_profiles
from sheetsync.schemas import SHEETS, Attendee, Audit, Enterprise, Expert, Project, SheetModel, Training
from sheetsync.schemas.target import CITY_WIDE, METRIC_NAMES
from sheetsync.validate import header_key

try:  # Windows with Excel: the real decorators; elsewhere xlwings' own no-ops, or ours
    import xlwings as xw

    _xw_func: Callable[..., Any] = xw.func
    _xw_arg: Callable[..., Any] = xw.arg
except ImportError:  # pragma: no cover - xlwings is an optional dependency

    def _xw_func(*args: Any, **kwargs: Any) -> Any:
        return lambda function: function

    def _xw_arg(*args: Any, **kwargs: Any) -> Any:
        return lambda function: function


F = TypeVar("F", bound=Callable[..., Any])

CATEGORY = "清洁生产"  # the function wizard's category
ERROR_PREFIX = "#错误: "
OWNER_HEADER = "填报单位"  # the master's register sheets name each row's submitter in this column
WHOLE_TABLE = "本表"  # the owner of rows from a table without a 填报单位 column
NOT_APPLICABLE = "不适用"
MEMBER_SEAT = "—"  # a panel member who holds no required seat, as `sheetsync panel draw` prints it
PANEL_HEADER: tuple[str, ...] = ("席位", "专家编号", "姓名", "工作单位", "专长")
RANGE: Mapping[str, Any] = MappingProxyType(
    {"ndim": 2}
)  # xlwings: always hand a range over as rows, even a single row or cell


# ---- metadata ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """One argument as Excel's wizard describes it; ``options`` go to ``xw.arg`` as well."""

    name: str
    doc: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Udf:
    name: str
    description: str
    args: tuple[Arg, ...]
    function: Callable[..., Any]


UDFS: dict[str, Udf] = {}


class BadInput(ValueError):
    """Input an officer can fix; the message (Chinese) is what the cell shows."""


def _signature_names(function: Callable[..., Any]) -> list[str]:
    names = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.VAR_POSITIONAL):
            raise TypeError(f"{function.__name__}: xlwings passes arguments by position only")
        names.append(parameter.name)
    return names


def udf(*args: Arg) -> Callable[[F], F]:
    """Register an Excel function: the wizard's texts, the xlwings decorators, the error guard.

    Every parameter must be described, in order, so the wizard never shows xlwings' placeholder
    "Positional argument 1" and a renamed parameter cannot slip past the .bas wrappers.
    """

    def register(function: F) -> F:
        names = _signature_names(function)
        if names != [arg.name for arg in args]:
            raise TypeError(f"{function.__name__}: described {[a.name for a in args]}, has {names}")
        description = inspect.cleandoc(function.__doc__ or "")
        if not description:
            raise TypeError(f"{function.__name__}: the function wizard needs a Chinese description")

        @functools.wraps(function)
        def guarded(*values: Any) -> Any:
            try:
                return function(*values)
            except (BadInput, PanelShortage) as problem:
                return ERROR_PREFIX + str(problem)
            except CellProblem as problem:
                return ERROR_PREFIX + _cell_message(problem)

        wrapped: Any = guarded
        varargs = {
            p.name for p in inspect.signature(function).parameters.values() if p.kind is p.VAR_POSITIONAL
        }
        for arg in reversed(args):
            name = f"*{arg.name}" if arg.name in varargs else arg.name
            wrapped = _xw_arg(name, doc=arg.doc, **arg.options)(wrapped)
        wrapped = _xw_func(category=CATEGORY)(wrapped)
        UDFS[function.__name__] = Udf(function.__name__, description, args, wrapped)
        return wrapped  # type: ignore[no-any-return]

    return register


# ---- reading Excel-shaped input ------------------------------------------------------------


def _cell_message(problem: CellProblem, header: str | None = None) -> str:
    context = {"header": header, **problem.context}
    text = render_message(problem.code, context) if problem.code in CATALOGUE else problem.code
    return f"“{header}”:{text}" if header else text


def _scalar(raw: Any, label: str) -> Any:
    """A single value; a one-cell range arrives as [[value]] and counts as one."""
    while isinstance(raw, list | tuple):
        if len(raw) != 1:
            raise BadInput(f"“{label}”应为单个单元格或数值")
        raw = raw[0]
    return raw


def _day(raw: Any, label: str = "基准日期") -> date:
    value = _scalar(raw, label)
    try:
        day = to_date(value)
    except CellProblem as problem:
        raise BadInput(_cell_message(problem, label)) from None
    if day is None:
        raise BadInput(f"请给出“{label}”,如 TODAY() 或 DATE(2014,3,1)")
    return day


def _text(raw: Any, label: str) -> str | None:
    return clean_text(_scalar(raw, label))


def _integer(raw: Any, label: str) -> int | None:
    try:
        return to_integer(_scalar(raw, label))
    except CellProblem as problem:
        raise BadInput(_cell_message(problem, label)) from None


def _profile(raw: Any) -> Profile:
    name = _text(raw, "规则方案") or DEFAULT_PROFILE
    try:
        return load_profile(name)
    except (KeyError, FileNotFoundError):
        raise BadInput(f"找不到规则方案“{name}”;可用的方案:{'、'.join(shipped_profiles())}") from None


def _rows(raw: Any, label: str) -> list[list[Any]]:
    """Rows of a range: xlwings hands over 2-D lists, a formula may pass a flat row or one value."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        return [[raw]]
    if raw and not any(isinstance(item, list | tuple) for item in raw):
        return [list(raw)]
    if not all(isinstance(item, list | tuple) for item in raw):
        raise BadInput(f"“{label}”应为单元格区域")
    return [list(item) for item in raw]


def _one_row(raw: Any, label: str) -> list[Any]:
    rows = _rows(raw, label)
    if len(rows) != 1:
        raise BadInput(f"“{label}”应为一行单元格,收到{len(rows)}行")
    return rows[0]


def _header_index(model: type[SheetModel]) -> dict[str, str]:
    index: dict[str, str] = {}
    for name, column in model.columns().items():
        for label in (column.header, *column.aliases):
            index.setdefault(header_key(label), name)
    return index


_INDEXES: dict[type[SheetModel], dict[str, str]] = {model: _header_index(model) for model in SHEETS}


def _columns(model: type[SheetModel], headers: Sequence[Any]) -> dict[int, str]:
    """Column position → field; headers of other sheets or of the master's provenance are ignored."""
    index = _INDEXES[model]
    found: dict[int, str] = {}
    for position, cell in enumerate(headers):
        name = index.get(header_key(cell))
        if name is not None and name not in found.values():
            found[position] = name
    if not found:
        raise BadInput(f"表头中没有“{model.sheet_name}”的列,请把表头行一并选上")
    return found


def _record(model: type[SheetModel], columns: dict[int, str], row: Sequence[Any], where: str) -> Any:
    """One row as its contract model; cross-field rules are for 校验, not for these functions."""
    data = {name: row[position] if position < len(row) else None for position, name in columns.items()}
    try:
        return model.model_validate(data)
    except ValidationError as invalid:
        error = invalid.errors(include_url=False)[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        header = model.header(name) if name in model.columns() else None
        raw = data.get(name)
        context = {"header": header, "value": clean_text(raw) if not isinstance(raw, str) else raw}
        context.update(error.get("ctx") or {})
        code = error["type"]
        text = render_message(code, context) if code in CATALOGUE else error["msg"]
        raise BadInput(f"{where}“{header}”:{text}" if header else f"{where}{text}") from None


def _from_arguments(model: type[SheetModel], **values: Any) -> Any:
    """A record from a function's own arguments; an omitted one stays unset rather than blank."""
    given = {name: value for name, value in values.items() if not is_blank(value)}
    return _record(model, dict(enumerate(given)), list(given.values()), "")


def _paired(model: type[SheetModel], headers: Any, row: Any) -> tuple[Any, bool]:
    """The record of one row given with its sheet's header row; (None, True) for a blank row."""
    header_row = _one_row(headers, "表头")
    cells = _one_row(row, "数据行")
    if len(header_row) != len(cells):
        raise BadInput(f"表头有{len(header_row)}列,数据行有{len(cells)}列,请选同样的列")
    if all(is_blank(cell) for cell in cells):
        return None, True
    return _record(model, _columns(model, header_row), cells, ""), False


@dataclass(frozen=True)
class _Table:
    model: type[SheetModel]
    columns: dict[int, str]
    owner_column: int | None
    body: list[list[Any]]

    def records(self) -> list[tuple[Any, str]]:
        """(record, owner) for every non-blank row, numbered as rows of the range (header = 1)."""
        found = []
        for number, row in enumerate(self.body, start=2):
            if all(is_blank(cell) for cell in row):
                continue
            owner = WHOLE_TABLE
            if self.owner_column is not None and self.owner_column < len(row):
                owner = clean_text(row[self.owner_column]) or WHOLE_TABLE
            where = f"“{self.model.sheet_name}”第{number}行"
            found.append((_record(self.model, self.columns, row, where), owner))
        return found


def _table(raw: Any, label: str, model: type[SheetModel] | None = None) -> _Table:
    """A range whose first row is the header; the sheet is told by its headers unless given."""
    rows = _rows(raw, label)
    if not rows:
        raise BadInput(f"“{label}”为空,请选上表头和数据")
    headers = rows[0]
    if model is None:
        model = _identify(headers, label)
    owner = next((i for i, cell in enumerate(headers) if header_key(cell) == header_key(OWNER_HEADER)), None)
    return _Table(model, _columns(model, headers), owner, rows[1:])


def _identify(headers: Sequence[Any], label: str) -> type[SheetModel]:
    """The contract sheet whose required headers are all there, the one matching most headers."""
    keys = {header_key(cell) for cell in headers}
    best: tuple[int, type[SheetModel]] | None = None
    for model in SHEETS:
        index = _INDEXES[model]
        matched = {name for key, name in index.items() if key in keys}
        required = {name for name, column in model.columns().items() if column.required}
        if required <= matched and (best is None or len(matched) > best[0]):
            best = (len(matched), model)
    if best is None:
        raise BadInput(f"认不出“{label}”是哪张表:第一行应为约定表头(企业名录、审核进度等)")
    return best[1]


def _enterprise_of(raw: Any, code: str | None) -> Enterprise | None:
    """The 企业名录 row of one credit code; other rows are not parsed, so their mistakes do not matter here."""
    if raw is None or code is None:
        return None
    table = _table(raw, "企业名录", Enterprise)
    position = next((p for p, name in table.columns.items() if name == "uscc"), None)
    if position is None:
        raise BadInput("企业名录中没有“统一社会信用代码”列,请把表头行一并选上")
    for number, row in enumerate(table.body, start=2):
        cell = row[position] if position < len(row) else None
        try:
            same = to_uscc(cell) == code
        except CellProblem:
            same = False
        if same:
            return _record(Enterprise, table.columns, row, f"“企业名录”第{number}行")
    raise BadInput(f"企业名录中找不到统一社会信用代码为“{code}”的企业")


def _number(value: Decimal | int) -> float | int:
    return int(value) if value == int(value) and abs(value) < 2**53 else float(value)


# ---- the functions -------------------------------------------------------------------------

HEADERS_DOC = "“审核进度”表的表头行,如 $A$1:$O$1(加 $ 便于下拉填充)"
ROW_DOC = "要判断的那一条审核记录所在的行,如 A2:O2,列与表头对应"
AS_OF_DOC = "基准日期,通常为 TODAY();只计这一天及以前发生的事"
PROFILE_DOC = f"规则方案名称(如 beijing-2014)或 TOML 文件路径;省略为 {DEFAULT_PROFILE}"


@udf(Arg("code", "统一社会信用代码,可含空格、小写或全角字符"))
def CP_USCC_OK(code: Any) -> bool:
    """统一社会信用代码是否有效(18位,按 GB 32100-2015 核对校验位)。与 sheetsync 校验的规则相同;空单元格为 FALSE。"""
    value = _scalar(code, "统一社会信用代码")
    try:
        return to_uscc(value) is not None
    except CellProblem:
        return False


@udf(
    Arg("headers", HEADERS_DOC, RANGE),
    Arg("row", ROW_DOC, RANGE),
    Arg("as_of", AS_OF_DOC),
    Arg("profile", PROFILE_DOC),
)
def CP_STAGE(headers: list[Any], row: list[Any], as_of: Any, profile: Any = None) -> Any:
    """审核当前所处阶段,如“提交报告”“方案实施(评估良好)”“发证(参与清洁生产行动证书)”。按基准日期判断,空行返回空白。"""
    audit, blank = _paired(Audit, headers, row)
    if blank:
        return ""
    return audit_status(audit, None, _profile(profile), _day(as_of)).stage_text


def _overdue_flags(headers: Any, row: Any, as_of: Any, enterprises: Any, profile: Any) -> list[Any] | None:
    audit, blank = _paired(Audit, headers, row)
    if blank:
        return None
    enterprise = _enterprise_of(enterprises, audit.uscc)
    status = audit_status(audit, enterprise, _profile(profile), _day(as_of))
    return [flag for flag in status.flags if flag.is_open]


ENTERPRISES_DOC = "可选:“企业名录”表(含表头),按信用代码查出该企业;强制审核的期限要用到列入名单日期"


@udf(
    Arg("headers", HEADERS_DOC, RANGE),
    Arg("row", ROW_DOC, RANGE),
    Arg("as_of", AS_OF_DOC),
    Arg("enterprises", ENTERPRISES_DOC, RANGE),
    Arg("profile", PROFILE_DOC),
)
def CP_OVERDUE(
    headers: list[Any], row: list[Any], as_of: Any, enterprises: Any = None, profile: Any = None
) -> Any:
    """审核逾期天数:已过规则方案期限仍未完成的阶段中,逾期最久的天数;未逾期为 0,空行返回空白。原因见 CP_OVERDUE_REASON。"""
    flags = _overdue_flags(headers, row, as_of, enterprises, profile)
    if flags is None:
        return ""
    return max((flag.days_over for flag in flags), default=0)


@udf(
    Arg("headers", HEADERS_DOC, RANGE),
    Arg("row", ROW_DOC, RANGE),
    Arg("as_of", AS_OF_DOC),
    Arg("enterprises", ENTERPRISES_DOC, RANGE),
    Arg("profile", PROFILE_DOC),
)
def CP_OVERDUE_REASON(
    headers: list[Any], row: list[Any], as_of: Any, enterprises: Any = None, profile: Any = None
) -> Any:
    """审核逾期的原因,如“已过2014年2月28日仍未启动审核”;多条用“;”分隔,未逾期返回空白。"""
    flags = _overdue_flags(headers, row, as_of, enterprises, profile)
    return ";".join(flag.reason for flag in flags or ())


@udf(
    Arg("cert_type", "证书类型:参与清洁生产行动证书 或 清洁生产(优秀)企业"),
    Arg("issued", "发证日期"),
    Arg("valid_until", "证书有效期至;留空时按规则方案的有效期推算"),
    Arg("as_of", AS_OF_DOC),
    Arg("profile", PROFILE_DOC),
)
def CP_CERT_STATUS(cert_type: Any, issued: Any, valid_until: Any, as_of: Any, profile: Any = None) -> Any:
    """证书状态:有效、待换证(届满前规则方案规定的天数内)或已过期;尚未发证返回空白。"""
    audit = _from_arguments(
        Audit,
        certificate=_scalar(cert_type, "证书类型"),
        certified_on=_scalar(issued, "发证日期"),
        valid_until=_scalar(valid_until, "证书有效期至"),
    )
    status = certificate_status(audit, _profile(profile), _day(as_of))
    return "" if status is None else str(status.state)


_PROGRESS_PARTS: dict[type[SheetModel], str] = {
    Enterprise: "enterprises",
    Audit: "audits",
    Project: "projects",
    Training: "trainings",
    Attendee: "attendees",
}


@udf(
    Arg("metric", f"指标名称,如 启动审核企业数、技改项目数、年节能量;共{len(METRIC_NAMES)}项,见填报说明"),
    Arg(
        "scope",
        f"统计范围:留空为表中全部记录({CITY_WIDE});或填报单位名称(表中须有“填报单位”列)、行业领域名称",
    ),
    Arg("as_of", AS_OF_DOC),
    Arg("profile", "规则方案名称或 TOML 文件路径;留空为默认方案"),
    Arg(
        "tables",
        "一张或多张表(各含表头):企业名录、审核进度、技改项目、培训活动、参训人员,按指标需要选",
        RANGE,
    ),
)
def CP_PROGRESS(metric: Any, scope: Any, as_of: Any, profile: Any, *tables: Any) -> Any:
    """某项指标截至基准日期的完成数,与总台账的进度统计口径相同(每家企业只计一次)。"""
    name = _text(metric, "指标")
    if name not in METRIC_NAMES:
        raise BadInput(f"未知的指标“{name or ''}”;可选:{'、'.join(METRIC_NAMES)}")
    parts: dict[str, list[Owned[Any]]] = {part: [] for part in _PROGRESS_PARTS.values()}
    owned_columns = False
    for number, raw in enumerate(tables, start=1):
        table = _table(raw, f"第{number}张表")
        if table.model not in _PROGRESS_PARTS:
            raise BadInput(f"CP_PROGRESS 不使用“{table.model.sheet_name}”表")
        owned_columns |= table.owner_column is not None
        parts[_PROGRESS_PARTS[table.model]] += [Owned(record, owner) for record, owner in table.records()]
    rules = _profile(profile)
    report = progress(ProgrammeRecords(**parts), rules, _day(as_of), metrics=(name,))
    wanted = _text(scope, "统计范围") or CITY_WIDE
    scopes = {s.scope: s for s in (report.city, *report.sectors)}
    if owned_columns:
        scopes.update({s.scope: s for s in report.submitters})
    if wanted not in scopes:
        hint = "" if owned_columns else ";按填报单位统计需要表中有“填报单位”列(总台账的各台账表都有)"
        raise BadInput(f"没有统计范围“{wanted}”;可选:{'、'.join(scopes)}{hint}")
    done = scopes[wanted].get(name).done
    return NOT_APPLICABLE if done is None else _number(done)


def _panel_rows(draw: PanelDraw, experts: dict[str, Expert]) -> list[list[Any]]:
    seat_of = {expert_id: label for label, expert_id in draw.seats}

    def line(label: str, expert_id: str) -> list[Any]:
        expert = experts[expert_id]
        return [label, expert_id, expert.name or "", expert.employer or "", "、".join(expert.specialties)]

    rows = [list(PANEL_HEADER)]
    rows += [line(seat_of.get(expert_id, MEMBER_SEAT), expert_id) for expert_id in draw.panel]
    rows += [line(f"候补{n}", expert_id) for n, expert_id in enumerate(draw.reserves, start=1)]
    return rows


@udf(
    Arg("experts", "“专家库”表(含表头)", RANGE),
    Arg("enterprise_code", "被审核企业的统一社会信用代码"),
    Arg("enterprise_industry", "被审核企业的行业门类,如 C 或 C 制造业;工艺专家按此匹配"),
    Arg("purpose", f"用途:{PURPOSE_EVALUATION} 或 {PURPOSE_ACCEPTANCE}"),
    Arg("seed", "随机种子(整数);同一种子总抽出同一组专家。超过15位的种子请写成文本"),
    Arg("as_of", "抽取日期"),
    Arg("size", "可选:专家组人数;省略按规则方案(3至7人,默认5人)"),
    Arg("enterprise_name", "可选:被审核企业名称,用于回避其本单位专家"),
    Arg("agency", "可选:承担审核的咨询机构名称,用于回避"),
    Arg("profile", PROFILE_DOC),
)
def CP_EXPERT_PANEL(
    experts: list[Any],
    enterprise_code: Any,
    enterprise_industry: Any,
    purpose: Any,
    seed: Any,
    as_of: Any,
    size: Any = None,
    enterprise_name: Any = None,
    agency: Any = None,
    profile: Any = None,
) -> Any:
    """预演专家组抽取,返回表头及席位、专家编号、姓名、工作单位、专长,候补列在下方。不含以往抽取记录(冷却期、上次专家组回避),正式抽取请用“抽取专家”按钮。"""
    chosen = _text(purpose, "用途")
    if chosen not in (PURPOSE_EVALUATION, PURPOSE_ACCEPTANCE):
        raise BadInput(f"用途应为“{PURPOSE_EVALUATION}”或“{PURPOSE_ACCEPTANCE}”,收到“{chosen or ''}”")
    number = _integer(seed, "随机种子")
    if number is None:
        raise BadInput("请给出随机种子(整数),同一种子可复现同一组专家")
    enterprise = _from_arguments(
        Enterprise,
        uscc=_scalar(enterprise_code, "企业信用代码"),
        name=_scalar(enterprise_name, "企业名称"),
        industry_section=_scalar(enterprise_industry, "行业门类"),
    )
    if enterprise.uscc is None or enterprise.industry_section is None:
        raise BadInput("请给出被审核企业的统一社会信用代码和行业门类")
    firm = _text(agency, "咨询机构")
    pool = [record for record, _ in _table(experts, "专家库", Expert).records()]
    try:
        draw = draw_panel(
            pool,
            enterprise,
            _profile(profile),
            number,
            _day(as_of, "抽取日期"),
            audit=Audit(agency=firm) if firm else None,
            size=_integer(size, "专家组人数"),
            purpose=chosen,
        )
    except ValueError as wrong_size:  # the engine's own Chinese text, e.g. 专家组人数须在3至7人之间
        if isinstance(wrong_size, BadInput | PanelShortage | CellProblem):
            raise
        raise BadInput(str(wrong_size)) from None
    return _panel_rows(draw, {expert.expert_id or "": expert for expert in pool})
