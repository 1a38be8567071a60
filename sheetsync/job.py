"""The job file: one TOML file in ``sync_jobs/`` that says what the nightly run does.

An office sets up a drive once and then edits only this file, so every mistake in it must be
reported in Chinese, naming the key and what is wrong, before anything runs: a silently ignored
typo here would mean a night without a master. Relative paths are read from the job file's own
folder, so a drive and its job file can be copied or mounted elsewhere together.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sheetsync.drive import Drive
from sheetsync.master.split import EXCEL_DATA_ROWS
from sheetsync.profile import Profile, load_profile, shipped_profiles

Period = Literal["monthly", "quarterly"]

DEFAULT_KEEP_MASTERS = 7
DEFAULT_SETTLE_SECONDS = 5.0

# what each key is called when an officer is told about it
KEY_LABELS: dict[str, str] = {
    "name": "作业名称",
    "drive": "共享盘目录",
    "profile": "规则方案",
    "submitters": "填报单位",
    "period": "填报周期",
    "run_at": "每日运行时间",
    "register_url": "台账数据库",
    "master_path": "总台账文件",
    "keep_masters": "保留的历史总台账份数",
    "settle_seconds": "文件稳定等待秒数",
    "max_register_rows": "总台账每张登记表的行数上限",
    "google": "Google 表格",
    "google.service_account": "服务账号密钥文件",
    "google.endpoint": "Google 表格接口地址",
    "google.sources": "以 Google 表格填报的单位",
    "google.publish_key": "发布总台账的 Google 表格",
    "google.max_tries": "每个请求最多尝试次数",
    "google.max_seconds": "每个请求最长重试秒数",
}

DEFAULT_GOOGLE_ENDPOINT = "https://sheets.googleapis.com"
DEFAULT_GOOGLE_TRIES = 5
DEFAULT_GOOGLE_SECONDS = 60.0

_RUN_AT = re.compile(r"^(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d)$")
# a spreadsheet key, or the address of the sheet it can be cut from
_SHEET_KEY = re.compile(r"^[A-Za-z0-9_-]{20,}$")
_SHEET_URL = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class JobFileError(ValueError):
    """The job file cannot be used; the message is the Chinese text an officer reads."""


def _base(info: ValidationInfo) -> Path:
    context = info.context or {}
    return Path(context.get("base", Path.cwd()))


def _resolve(base: Path, value: str | Path) -> Path:
    """Absolute without following links, so a mapped drive letter stays the letter officers know."""
    path = Path(value).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def _beside_job_file(value: Any, info: ValidationInfo) -> Any:
    """A path given in the job file, relative to the job file's folder; anything else as given."""
    if isinstance(value, str | Path) and str(value).strip():
        return _resolve(_base(info), value)
    return value


def _sheet_key(value: Any) -> Any:
    """A key as pasted: the bare key, or the whole address copied from the browser."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    found = _SHEET_URL.search(text)
    if found:
        text = found[1]
    if not _SHEET_KEY.match(text):
        raise ValueError(
            f"“{value}”不是有效的 Google 表格编号;请填写表格网址中 /d/ 与 /edit 之间的部分,或整个网址"
        )
    return text


class GoogleConfig(BaseModel):
    """The ``[google]`` table: submitters who keep their workbook in a Google Sheet, and where to publish.

    The caps on retrying are per request and come from here so an office on a slow or
    rationed connection can loosen them without a code change.
    """

    model_config = ConfigDict(extra="forbid")

    service_account: Path
    endpoint: str = DEFAULT_GOOGLE_ENDPOINT
    sources: dict[str, str] = Field(default_factory=dict)
    publish_key: str | None = None
    max_tries: int = Field(default=DEFAULT_GOOGLE_TRIES, ge=1, le=20)
    max_seconds: float = Field(default=DEFAULT_GOOGLE_SECONDS, gt=0, le=3600)

    @field_validator("service_account", mode="before")
    @classmethod
    def _path_from_job_file(cls, value: Any, info: ValidationInfo) -> Any:
        return _beside_job_file(value, info)

    @field_validator("endpoint", mode="before")
    @classmethod
    def _endpoint(cls, value: Any) -> Any:
        """https only, except on this machine: the access token travels in every request."""
        if not isinstance(value, str):
            return value
        text = value.strip().rstrip("/")
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"“{value}”不是有效的网址;默认为 {DEFAULT_GOOGLE_ENDPOINT}")
        if parts.path:
            raise ValueError(f"“{value}”只应包含协议、主机和端口,不要带路径(如 /v4)")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
            raise ValueError(
                f"“{value}”须使用 https://;访问令牌随每个请求发送,只有本机地址(127.0.0.1、localhost)可用 http://"
            )
        return text

    @field_validator("sources", mode="before")
    @classmethod
    def _source_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        keys: dict[Any, Any] = {}
        for name, key in value.items():
            try:
                keys[name] = _sheet_key(key)
            except ValueError as error:
                raise ValueError(f"{name}:{error}") from None
        return keys

    @field_validator("publish_key", mode="before")
    @classmethod
    def _publish_key(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return _sheet_key(value)

    @model_validator(mode="after")
    def _publish_apart(self) -> GoogleConfig:
        if self.publish_key is not None and self.publish_key in self.sources.values():
            raise ValueError("publish_key(发布总台账的 Google 表格)不能是某个填报单位的表格")
        return self


class JobConfig(BaseModel):
    """A validated job; optional keys come back filled from the profile and the drive."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    drive: Path
    profile: str = Field(min_length=1)
    # empty means every submitter of the profile; filled in after validation
    submitters: tuple[str, ...] = ()
    period: Period | None = None
    run_at: str
    register_url: str | None = None
    master_path: Path | None = None
    keep_masters: int = Field(default=DEFAULT_KEEP_MASTERS, ge=1)
    settle_seconds: float = Field(default=DEFAULT_SETTLE_SECONDS, ge=0)
    # past it, the register sheets go to one workbook per submitter beside the master
    max_register_rows: int = Field(default=EXCEL_DATA_ROWS, ge=1, le=EXCEL_DATA_ROWS)
    google: GoogleConfig | None = None

    _rules: Profile | None = PrivateAttr(default=None)

    @field_validator("drive", "master_path", mode="before")
    @classmethod
    def _path_from_job_file(cls, value: Any, info: ValidationInfo) -> Any:
        return _beside_job_file(value, info)

    @field_validator("profile", mode="before")
    @classmethod
    def _profile_path(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and value.lower().endswith(".toml"):
            return str(_resolve(_base(info), value))
        return value

    @field_validator("register_url", mode="before")
    @classmethod
    def _sqlite_path(cls, value: Any, info: ValidationInfo) -> Any:
        """A relative SQLite file is relative to the job file, like every other path in it."""
        prefix = "sqlite:///"
        if isinstance(value, str) and value.startswith(prefix):
            rest = value.removeprefix(prefix)
            if rest and not rest.startswith("/") and not Path(rest).is_absolute() and rest != ":memory:":
                return prefix + _resolve(_base(info), rest).as_posix()
        return value

    @field_validator("run_at", mode="before")
    @classmethod
    def _hh_mm(cls, value: Any) -> Any:
        # TOML has a local-time type: `run_at = 02:30:00` arrives as a datetime.time
        if isinstance(value, time):
            if value.second or value.microsecond:
                raise ValueError(f'时间只精确到分钟,请写成 "{value:%H:%M}"')
            return f"{value:%H:%M}"
        if not isinstance(value, str):
            raise ValueError('须为 "HH:MM" 形式的文本,如 "02:30"')
        match = _RUN_AT.match(value.strip())
        if match is None:
            raise ValueError(f'“{value}”不是有效的时间;须为 24 小时制 "HH:MM",如 "02:30"')
        return f"{int(match['hour']):02d}:{match['minute']}"

    @model_validator(mode="after")
    def _fill_from_profile(self) -> JobConfig:
        try:
            rules = load_profile(self.profile)
        except KeyError:
            raise ValueError(
                f"profile(规则方案):找不到“{self.profile}”;可用的方案:{'、'.join(shipped_profiles())},"
                "或填写 .toml 规则方案文件的路径"
            ) from None
        except (ValidationError, tomllib.TOMLDecodeError, OSError) as error:
            raise ValueError(f"profile(规则方案):文件“{self.profile}”无法使用:{error}") from None
        known = [submitter.name for submitter in rules.submitters]
        unknown = [name for name in self.submitters if name not in known]
        if unknown:
            raise ValueError(
                f"submitters(填报单位):规则方案“{rules.name}”中没有 {'、'.join(unknown)};"
                f"可选:{'、'.join(known)}"
            )
        if len(set(self.submitters)) != len(self.submitters):
            raise ValueError("submitters(填报单位):有重复的单位")
        if not self.submitters:
            self.submitters = tuple(known)
        if self.period is None:
            self.period = "quarterly" if rules.reporting == "quarterly" else "monthly"
        if self.register_url is None:
            self.register_url = self.layout.register_url
        if self.master_path is None:
            self.master_path = self.layout.master_path
        self._rules = rules
        return self

    @model_validator(mode="after")
    def _google_sources_known(self) -> JobConfig:
        if self.google is None:
            return self
        unknown = [name for name in self.google.sources if name not in self.submitters]
        if unknown:
            raise ValueError(
                f"google.sources(以 Google 表格填报的单位):本作业的填报单位中没有 {'、'.join(unknown)};"
                f"可选:{'、'.join(self.submitters)}"
            )
        return self

    @property
    def layout(self) -> Drive:
        return Drive(self.drive)

    @property
    def rules(self) -> Profile:
        """The profile the job names, loaded once when the job was validated."""
        if self._rules is None:
            self._rules = load_profile(self.profile)
        return self._rules


def load_job(path: str | Path) -> JobConfig:
    """Read and check a job file; any problem is a :class:`JobFileError` in Chinese."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # Notepad may save a byte-order mark
    except FileNotFoundError:
        raise JobFileError(f"找不到作业文件“{path}”") from None
    except UnicodeDecodeError:
        raise JobFileError(f"作业文件“{path}”不是 UTF-8 编码;请用 UTF-8 另存") from None
    except OSError as error:
        raise JobFileError(f"无法读取作业文件“{path}”:{error.strerror or error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        hint = ""
        if "escape" in str(error).lower():
            hint = "(Windows 路径中的反斜杠请改用单引号括起,如 drive = 'D:\\共享盘',或改用正斜杠 /)"
        raise JobFileError(f"作业文件“{path}”不是有效的 TOML:{error}{hint}") from None
    base = Path(os.path.normpath(path.absolute().parent))
    try:
        return JobConfig.model_validate(data, context={"base": base})
    except ValidationError as error:
        lines = "\n".join(f"- {line}" for line in explain(error))
        raise JobFileError(f"作业文件“{path}”有误:\n{lines}") from None


def explain(error: ValidationError) -> list[str]:
    """Pydantic's findings in Chinese, one line per key, each naming the key and the fix."""
    lines: list[str] = []
    for item in error.errors(include_url=False):
        key = ".".join(str(part) for part in item["loc"])
        where = f"{key}({KEY_LABELS[key]})" if key in KEY_LABELS else key
        lines.append(f"{where}:{_message(item)}" if key else _message(item))
    return lines


def _message(item: Any) -> str:
    kind: str = item["type"]
    ctx: dict[str, Any] = item.get("ctx") or {}
    given = item.get("input")
    if kind == "missing":
        return "缺少此项(必填)"
    if kind == "extra_forbidden":
        return f"不认识的键(拼写错误?);可用的键:{'、'.join(_sibling_keys(item['loc']))}"
    if kind == "value_error":
        return str(ctx.get("error", item["msg"]))
    if kind == "literal_error":
        return f'只能是 "monthly"(按月)或 "quarterly"(按季度),现为 {given!r}'
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"须为整数,现为 {given!r}"
    if kind in ("float_type", "float_parsing"):
        return f"须为数字,现为 {given!r}"
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        return (
            f"须不小于 {bound},现为 {given!r}"
            if kind == "greater_than_equal"
            else f"须大于 {bound},现为 {given!r}"
        )
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        return f"须不大于 {bound},现为 {given!r}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"须为表,如 [google] 一节或 {{ 键 = 值 }},现为 {given!r}"
    if kind in ("string_type", "path_type"):
        return f"须为文本(用双引号括起),现为 {given!r}"
    if kind == "string_too_short":
        return "不能为空"
    if kind in ("tuple_type", "list_type"):
        return f'须为列表,如 ["越秀区", "海珠区"],现为 {given!r}'
    return f"取值无效:{given!r}"


def _sibling_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where an unknown one was found: top level, or inside [google]."""
    parent = ".".join(str(part) for part in loc[:-1])
    prefix = f"{parent}." if parent else ""
    return [
        key.removeprefix(prefix)
        for key in KEY_LABELS
        if key.startswith(prefix) and "." not in key.removeprefix(prefix)
    ]


# ---------------------------------------------------------------------------- writing


def write_job(path: str | Path, config: JobConfig) -> Path:
    """Write a job file an officer can read and edit, with paths relative to its own folder.

    Keys left at their defaults are written as comments, so the file stays right when the
    drive moves and shows what could be set.
    """
    path = Path(path)
    folder = Path(os.path.normpath(path.absolute().parent))
    layout = config.layout
    every = tuple(submitter.name for submitter in config.rules.submitters)

    def quoted(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string

    def shown(target: Path) -> str:
        return quoted(_relative(target, folder))

    profile = config.profile
    if profile.lower().endswith(".toml"):
        profile = _relative(Path(profile), folder)
    lines = [
        f"# sheetsync 作业文件:{config.name}",
        "# 路径相对于本文件所在的文件夹;Windows 路径请用单引号,如 'D:\\共享盘'。",
        "",
        "# 作业名称(出现在运行记录和日志中)",
        f"name = {quoted(config.name)}",
        "# 共享盘根目录(其下有 inbox/、archive/、rejected/、feedback/、master/、logs/)",
        f"drive = {shown(config.drive)}",
        "# 规则方案:内置方案名,或 .toml 规则方案文件的路径",
        f"profile = {quoted(profile)}",
        '# 填报周期:"monthly"(按月)或 "quarterly"(按季度)',
        f"period = {quoted(config.period or 'monthly')}",
        "# 每日运行时间(本机时间,24 小时制)",
        f"run_at = {quoted(config.run_at)}",
        "# 保留的历史总台账份数(master/history/)",
        f"keep_masters = {config.keep_masters}",
        "# 文件须保持不变多少秒才会被接收(仍在上传的文件留到下次)",
        f"settle_seconds = {_number(config.settle_seconds)}",
        "# 总台账每张登记表最多多少行;超过时按填报单位拆成多个工作簿放在总台账旁(默认即 Excel 的上限)",
        f"max_register_rows = {config.max_register_rows}",
        "",
        "# 只汇总部分填报单位时填写;不填则为规则方案中的全部单位",
    ]
    names = "[" + ", ".join(quoted(name) for name in config.submitters) + "]"
    lines.append(f"# submitters = {names}" if config.submitters == every else f"submitters = {names}")
    lines.append("# 台账数据库;不填则为共享盘 register/register.sqlite")
    if config.register_url == layout.register_url:
        lines.append(f"# register_url = {quoted('sqlite:///' + _relative(layout.register_path, folder))}")
    else:
        lines.append(f"register_url = {quoted(config.register_url or '')}")
    lines.append("# 总台账文件;不填则为共享盘 master/总台账.xlsx")
    if config.master_path == layout.master_path or config.master_path is None:
        lines.append(f"# master_path = {shown(layout.master_path)}")
    else:
        lines.append(f"master_path = {shown(config.master_path)}")
    if config.google is not None:
        lines.extend(_google_lines(config.google, quoted, shown))
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # never leave a file behind that load_job would refuse to parse
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _google_lines(
    google: GoogleConfig, quoted: Callable[[str], str], shown: Callable[[Path], str]
) -> list[str]:
    """The [google] table; it must come last, after every top-level key."""
    sources = ", ".join(f"{quoted(name)} = {quoted(key)}" for name, key in google.sources.items())
    endpoint = f"endpoint = {quoted(google.endpoint)}"
    lines = [
        "",
        "# 以 Google 表格填报的单位,以及发布总台账的 Google 表格(须与服务账号共享)",
        "[google]",
        "# 服务账号 JSON 密钥文件(请勿放在共享盘上)",
        f"service_account = {shown(google.service_account)}",
        "# 填报单位 = 表格编号(网址中 /d/ 与 /edit 之间的部分)",
        f"sources = {{ {sources} }}" if sources else "sources = {}",
        "# 发布登记表和概览的 Google 表格(供只读查看)",
        f"publish_key = {quoted(google.publish_key)}" if google.publish_key else '# publish_key = ""',
        "# 每个请求最多尝试次数、最长重试秒数(遇到限流或服务暂时出错时)",
        f"max_tries = {google.max_tries}",
        f"max_seconds = {_number(google.max_seconds)}",
        "# Google 表格接口地址(经代理访问时填写)",
        endpoint if google.endpoint != DEFAULT_GOOGLE_ENDPOINT else f"# {endpoint}",
    ]
    return lines


def _relative(target: Path, folder: Path) -> str:
    """Relative when the target sits beside the job file's folder (moves with it), else absolute."""
    try:
        relative = Path(os.path.relpath(target, folder))
    except ValueError:  # another drive letter on Windows: no relative path exists
        return target.as_posix()
    return relative.as_posix() if relative.parts.count("..") <= 1 else target.as_posix()


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
