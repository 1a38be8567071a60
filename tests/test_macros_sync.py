"""Keep the VBA modules in step with the Python they call.

An officer imports ``macros/*.bas`` once and forgets them; a UDF renamed or given a new argument
in ``sheetsync/udfs.py`` would then fail in their cell with nothing to say why. So every UDF must
have exactly one wrapper with the same arguments in the same order, calling itself through
xlwings, and the wizard texts the wrappers register must be the ones ``udfs.py`` declares. The
buttons call the command line, so the commands and options they use must exist there. The files
must be GBK with CRLF, which is what the VBA editor of a Chinese Windows reads.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main

from sheetsync import udfs
from sheetsync.cli import app
from sheetsync.cli_common import EXIT_OK, EXIT_PROBLEMS
from sheetsync.drive import MASTER_NAME, Drive
from sheetsync.schemas.stamp import STAMP_LABELS, STAMP_SHEET

MACROS = Path(__file__).resolve().parents[1] / "macros"
UDF_MODULE = MACROS / "sheetsync_udfs.bas"
BUTTON_MODULE = MACROS / "sheetsync_buttons.bas"
BUTTONS = ("ValidateThisWorkbook", "SubmitToDrive", "RefreshMaster", "DrawExpertPanel")

# A small set of VBA keywords and Excel globals that cannot, or should not, name a parameter.
VBA_RESERVED = frozenset(
    "and as boolean byref byval call case const date dim do each else end error exit false for function "
    "get goto if in is let like long loop me mod name new next not nothing null on open option optional "
    "or paramarray preserve private property public redim rem resume select set static step stop string "
    "sub then to true type until variant wend while with xor".split()
)


def read_bas(path: Path) -> str:
    return path.read_bytes().decode("gbk")  # strict: a character GBK lacks fails here


def logical_lines(text: str) -> list[str]:
    """Physical lines joined at VBA's ' _' continuations."""
    joined = re.sub(r" _\r\n\s*", " ", text)
    return joined.split("\r\n")


def literals(line: str) -> list[str]:
    return [found.replace('""', '"') for found in re.findall(r'"((?:[^"]|"")*)"', line)]


@dataclass(frozen=True)
class Wrapper:
    name: str
    args: tuple[str, ...]
    optional: tuple[str, ...]
    param_array: str | None
    calls: tuple[tuple[str, str, str], ...]  # (module, function, arguments) of each CallUDF


_FUNCTION = re.compile(r"^\s*(?:Public\s+)?Function\s+(\w+)\s*\((.*)\)\s*$", re.IGNORECASE)
_CALL = re.compile(r'XLPy\.CallUDF\(\s*"([^"]+)"\s*,\s*"([^"]+)"\s*,\s*(Array\([^)]*\)|argsArray)')
_ARGS_ARRAY = re.compile(r"argsArray = Array\(([^)]*)\)")


def parse_wrappers(text: str) -> list[Wrapper]:
    wrappers: list[Wrapper] = []
    lines = logical_lines(text)
    for index, line in enumerate(lines):
        found = _FUNCTION.match(line)
        if found is None:
            continue
        end = next(i for i in range(index, len(lines)) if lines[i].strip().lower() == "end function")
        body = "\n".join(lines[index + 1 : end])
        args, optional, param_array = [], [], None
        for part in filter(None, (p.strip() for p in found.group(2).split(","))):
            words = part.split()
            name = words[-1].removesuffix("()")
            if words[0].lower() == "optional":
                optional.append(name)
            if words[0].lower() == "paramarray":
                param_array = name
            args.append(name)
        calls = []
        for module, function, passed in _CALL.findall(body):
            if passed == "argsArray":
                fixed = _ARGS_ARRAY.search(body)
                assert fixed is not None, f"{found.group(1)} passes argsArray without building it"
                passed = f"Array({fixed.group(1)}, {param_array}())"
            calls.append((module, function, passed))
        wrappers.append(Wrapper(found.group(1), tuple(args), tuple(optional), param_array, tuple(calls)))
    return wrappers


def python_parameters(name: str) -> list[inspect.Parameter]:
    return list(inspect.signature(udfs.UDFS[name].function).parameters.values())


# ---- encoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(MACROS.glob("*.bas")), ids=lambda path: path.name)
def test_bas_files_are_gbk_with_crlf_and_name_their_module(path: Path) -> None:
    raw = path.read_bytes()
    text = read_bas(path)
    assert raw.count(b"\n") == raw.count(b"\r\n"), "every line must end in CRLF"
    assert raw.count(b"\r") == raw.count(b"\r\n"), "no bare CR"
    assert raw.endswith(b"\r\n")
    assert not raw.startswith(b"\xef\xbb\xbf"), "the VBA editor shows a UTF-8 BOM as garbage"
    assert text.split("\r\n", 1)[0] == f'Attribute VB_Name = "{path.stem}"'
    assert any(ord(char) > 127 for char in text), "the Chinese texts should be there, in GBK"
    for number, line in enumerate(text.split("\r\n"), start=1):
        assert len(line.encode("gbk")) < 1024, f"{path.name}:{number} is longer than VBA allows"


def test_both_modules_are_there() -> None:
    assert {path.name for path in MACROS.glob("*.bas")} >= {UDF_MODULE.name, BUTTON_MODULE.name}


# ---- UDF wrappers ------------------------------------------------------------------------------


def test_every_udf_has_exactly_one_wrapper_and_every_wrapper_a_udf() -> None:
    names = [wrapper.name for wrapper in parse_wrappers(read_bas(UDF_MODULE))]
    assert len(names) == len(set(names)), (
        f"duplicate wrappers: {sorted(n for n in names if names.count(n) > 1)}"
    )
    assert set(names) - set(udfs.UDFS) == set(), "wrappers without a UDF in sheetsync/udfs.py"
    assert set(udfs.UDFS) - set(names) == set(), "UDFs without a wrapper in macros/sheetsync_udfs.bas"


def test_no_other_module_defines_a_udf_wrapper() -> None:
    """Two modules defining CP_STAGE would stop the VBA project compiling ('Ambiguous name')."""
    for path in MACROS.glob("*.bas"):
        if path != UDF_MODULE:
            assert not {w.name for w in parse_wrappers(read_bas(path))} & set(udfs.UDFS), path.name


@pytest.mark.parametrize("name", sorted(udfs.UDFS))
def test_wrapper_arguments_match_the_python_parameters(name: str) -> None:
    wrapper = next(w for w in parse_wrappers(read_bas(UDF_MODULE)) if w.name == name)
    parameters = python_parameters(name)
    assert list(wrapper.args) == [p.name for p in parameters]
    assert list(wrapper.optional) == [p.name for p in parameters if p.default is not p.empty]
    varargs = [p.name for p in parameters if p.kind is p.VAR_POSITIONAL]
    assert wrapper.param_array == (varargs[0] if varargs else None)
    assert not {arg.lower() for arg in wrapper.args} & VBA_RESERVED


@pytest.mark.parametrize("name", sorted(udfs.UDFS))
def test_wrapper_calls_its_own_udf_with_every_argument_in_order(name: str) -> None:
    wrapper = next(w for w in parse_wrappers(read_bas(UDF_MODULE)) if w.name == name)
    assert wrapper.calls, f"{name} never calls XLPy.CallUDF"
    names = ", ".join(p.name + ("()" if p.kind is p.VAR_POSITIONAL else "") for p in python_parameters(name))
    for module, function, passed in wrapper.calls:
        assert (module, function) == (udfs.__name__, name)
        assert passed == f"Array({names})"


def test_wizard_texts_registered_by_the_module_are_the_udfs() -> None:
    text = read_bas(UDF_MODULE)
    described: dict[str, tuple[str, list[str]]] = {}
    for line in logical_lines(text):
        if line.strip().startswith("Describe "):
            name, description, *docs = literals(line)
            assert name not in described, f"{name} described twice"
            described[name] = (description, docs)
    assert set(described) == set(udfs.UDFS)
    for name, spec in udfs.UDFS.items():
        assert described[name] == (spec.description, [arg.doc for arg in spec.args]), name
    category = re.search(r'Const UDF_CATEGORY As String = "([^"]*)"', text)
    assert category is not None and category.group(1) == udfs.CATEGORY


_GENERATOR = r"""
import functools, inspect, io, json, sys, types
for name in ("pythoncom", "pywintypes", "win32com", "win32com.client"):
    sys.modules[name] = types.ModuleType(name)
sys.modules["pythoncom"].CoInitialize = lambda: None
sys.modules["pywintypes"].com_error = Exception
sys.modules["win32com.client"].Dispatch = lambda *args: None
try:
    import xlwings.udfs as xu
except Exception as missing:  # another xlwings needs more of Windows than these stand-ins
    print(json.dumps({"skip": repr(missing)}))
    raise SystemExit(0)
from sheetsync import udfs

class Book:
    Name = "book.xlsm"

blocks = {}
for spec in udfs.UDFS.values():
    f = spec.function
    g = functools.wraps(f)(lambda *a, f=f: f(*a))
    varargs = {p.name for p in inspect.signature(f).parameters.values() if p.kind is p.VAR_POSITIONAL}
    for arg in reversed(spec.args):
        g = xu.xlarg(("*" if arg.name in varargs else "") + arg.name, doc=arg.doc, **arg.options)(g)
    g = xu.xlfunc(category=udfs.CATEGORY)(g)
    module = types.ModuleType("one")
    setattr(module, spec.name, g)
    out = io.StringIO()
    xu.generate_vba_wrapper("sheetsync.udfs", module, out, Book())
    blocks[spec.name] = out.getvalue()
print(json.dumps({"blocks": blocks}))
"""


def xlwings_blocks() -> dict[str, str] | str:
    """Each UDF's wrapper as xlwings' own generate_vba_wrapper writes it, or why it could not run.

    xlwings' UDF module imports pywin32; a child process with stand-ins for those modules keeps
    the stubs out of this test run.
    """
    result = subprocess.run(
        [sys.executable, "-c", _GENERATOR], capture_output=True, text=True, check=True, encoding="utf-8"
    )
    answer = json.loads(result.stdout)
    return answer["blocks"] if "blocks" in answer else answer["skip"]


def _vba(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


UDF_MODULE_HEADER = (
    f'Attribute VB_Name = "{UDF_MODULE.stem}"',
    "' sheetsync 的 Excel 函数(xlwings 用户定义函数)的 VBA 包装,与 sheetsync/udfs.py 一一对应。",
    "' 写法与 xlwings 自动生成的包装相同;tests/test_macros_sync.py 核对函数名和参数与 udfs.py 一致。",
    "' 需要:本机已安装 Python、sheetsync 和 xlwings,本工作簿已引用 xlwings(工具 > 引用 > xlwings)。",
    "' 不要再用 xlwings 功能区的 Import Functions 导入同一批函数,否则会出现“名称重复”的编译错误。",
    "' 本文件为 GBK 编码、CRLF 换行:VBA 编辑器按简体中文 Windows 的 ANSI 代码页读取 .bas 文件。",
    "' 由 python tests/test_macros_sync.py 生成,请勿手改。",
    '#Const App = "Microsoft Excel" \'Adjust when using outside of Excel',
    "",
)


def render_udf_module(blocks: dict[str, str]) -> str:
    """The whole of macros/sheetsync_udfs.bas: xlwings' wrappers, then the wizard texts."""
    lines = [*UDF_MODULE_HEADER, f"Private Const UDF_CATEGORY As String = {_vba(udfs.CATEGORY)}", ""]
    for name in udfs.UDFS:
        lines += [*blocks[name].rstrip("\n").split("\n"), ""]
    lines += [
        "' 在“插入函数”向导中显示中文说明和参数说明(Excel 2010 及以上)。",
        "' 导入本模块后运行一次(Alt+F8 > RegisterSheetsyncFunctions),说明随工作簿保存。",
        "Sub RegisterSheetsyncFunctions()",
    ]
    for spec in udfs.UDFS.values():
        lines += [f"    Describe {_vba(spec.name)}, _", f"        {_vba(spec.description)}, _"]
        docs = [_vba(arg.doc) for arg in spec.args]
        for index, doc in enumerate(docs):
            head = "        Array(" if index == 0 else "              "
            lines.append(head + doc + (", _" if index < len(docs) - 1 else ")"))
    lines += [
        f'    MsgBox "已登记 {len(udfs.UDFS)} 个函数的说明,可在“插入函数”的“" & UDF_CATEGORY & "”类别中找到。", '
        'vbInformation, "sheetsync"',
        "End Sub",
        "",
        "Private Sub Describe(functionName As String, description As String, argumentDocs As Variant)",
        '    Application.MacroOptions Macro:="\'" & ThisWorkbook.Name & "\'!" & functionName, _',
        "        Description:=description, Category:=UDF_CATEGORY, ArgumentDescriptions:=argumentDocs",
        "End Sub",
    ]
    return "\r\n".join(lines) + "\r\n"


def test_udf_module_is_what_xlwings_and_udfs_py_generate() -> None:
    """The wrappers exactly as xlwings writes them; regenerate with: python tests/test_macros_sync.py"""
    pytest.importorskip("xlwings")
    blocks = xlwings_blocks()
    if isinstance(blocks, str):
        pytest.skip(f"xlwings' generator needs more than the stand-ins: {blocks}")
    assert read_bas(UDF_MODULE) == render_udf_module(blocks), "run: python tests/test_macros_sync.py"


# ---- buttons -----------------------------------------------------------------------------------

# The sheetsync commands the buttons run, and the options they pass.
BUTTON_COMMANDS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("validate",): ("--json", "--submitter", "--drive"),
    ("consolidate",): ("--drive",),
    ("panel", "draw"): ("--drive", "--enterprise", "--purpose", "--size"),
}


def _cli_options(path: tuple[str, ...]) -> set[str]:
    command = typer.main.get_command(app)
    for part in path:
        command = command.commands[part]  # type: ignore[attr-defined]
    return {option for param in command.params for option in param.opts}


def test_buttons_are_public_macros_without_arguments() -> None:
    text = read_bas(BUTTON_MODULE)
    for name in BUTTONS:
        assert re.search(rf"^Public Sub {name}\(\)\r$", text, re.MULTILINE), name
    assert "Option Explicit" in text


@pytest.mark.parametrize("path", sorted(BUTTON_COMMANDS), ids=" ".join)
def test_button_commands_and_options_exist_on_the_command_line(path: tuple[str, ...]) -> None:
    text = read_bas(BUTTON_MODULE)
    strings = [s for line in logical_lines(text) for s in literals(line)]
    assert any(s.startswith(" ".join(path) + " ") for s in strings), f"no button runs {' '.join(path)}"
    assert set(BUTTON_COMMANDS[path]) <= _cli_options(path)


def test_buttons_pass_no_option_the_command_line_lacks() -> None:
    strings = [s for line in logical_lines(read_bas(BUTTON_MODULE)) for s in literals(line)]
    used = {token for s in strings for token in re.findall(r"--[a-z][a-z-]*", s)}
    assert used == {option for options in BUTTON_COMMANDS.values() for option in options}


def test_buttons_know_the_drive_layout_stamp_and_exit_codes() -> None:
    text = read_bas(BUTTON_MODULE)
    drive = Drive(Path("root"))

    def const(name: str) -> str:
        found = re.search(rf"Const {name} As \w+ = (\"[^\"]*\"|\d+)", text)
        assert found is not None, name
        return found.group(1).strip('"')

    assert const("MASTER_NAME") == MASTER_NAME
    assert const("STAMP_SHEET") == STAMP_SHEET
    assert STAMP_LABELS[const("STAMP_SUBMITTER")] == "submitter"
    assert (int(const("EXIT_OK")), int(const("EXIT_PROBLEMS"))) == (EXIT_OK, EXIT_PROBLEMS)
    assert f'"\\{drive.inbox.name}\\"' in text
    assert f'"\\{drive.master_dir.name}\\"' in text
    # the partial copy must be a name the nightly run skips until it is complete
    assert '"\\~" & book.Name & ".part"' in text


if __name__ == "__main__":  # regenerate macros/sheetsync_udfs.bas after changing sheetsync/udfs.py
    found = xlwings_blocks()
    if isinstance(found, str):
        raise SystemExit(f"xlwings' generator could not run: {found}")
    UDF_MODULE.write_bytes(render_udf_module(found).encode("gbk"))
    print(f"wrote {UDF_MODULE}")
