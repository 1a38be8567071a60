"""One benchmark run, side by side, on the same files (issue #7, item 2).

``python benchmarks/run.py --corpus city`` measures, each in a fresh child process so that one
measurement's memory never counts against another's:

(a) ``consolidate`` of the whole inbox into an empty register (phases timed by wrapping the
    stage functions ``consolidate`` calls: read, validate, merge, evaluate, write the master);
(b) the rerun after one file changed: the register (a) left, the same inbox with one workbook
    replaced by its revised copy under ``changes/``; its register work is the time spent in
    ``merge_file`` for the changed file;
(c) the read floor: python-calamine reading every sheet of every file, nothing else;
(d) the script a user would otherwise write: ``pandas.read_excel(engine="openpyxl")`` for each
    file, frictionless validation of each of its sheets against a schema derived from
    ``sheetsync.schemas`` (types, required, choices, minimum, length), ``pandas.concat`` per sheet;
(e) XlsxWriter in constant-memory mode writing exactly the cells of the master run (a) wrote
    (loaded with python-calamine before the clock starts), one plain call per cell; compared
    with (m), ``write_master`` timed alone in a fresh process on exactly the arguments it was
    given in run (a) (pickled after (a)'s clock stopped).

Wall time (``time.perf_counter``), CPU time (user + system of the child) and peak RSS of the
child (``ru_maxrss``) are reported for each, with the ratios the issue sets targets for, and
appended to ``benchmarks/RESULTS.md`` with the machine described.  CPU time is there because a
shared machine's wall time also counts other processes' load; the load average at the start is
recorded for the same reason.

``--profile`` runs (a) under cProfile instead and prints the top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
WORK = "bench"  # inside the corpus folder: registers, masters, profiles of the runs
RUN_AT = datetime(2014, 11, 30, 2, 30)
RERUN_AT = datetime(2014, 12, 1, 2, 30)

MEASUREMENTS: dict[str, str] = {
    "a": "(a) register stage of a full consolidation, empty register",
    "a+": "(a+) the whole night: register stage, evaluation and master",
    "b": "(b) register stage of the rerun after one changed file",
    "b+": "(b+) the whole rerun",
    "c": "(c) read floor: python-calamine",
    "d": "(d) pandas+openpyxl read, frictionless, concat",
    "e": "(e) XlsxWriter constant-memory, the master's cells",
    "m": "(m) write_master alone, on (a)'s input",
    "f": "(f) store floor: (c) in the night's workers, raw rows into SQLite",
}

# (name, numerator, denominator, target text, check); the check gets the ratio
# The targets are for "consolidation into the register": (a) and (b), the register stage.
# The same ratios over the whole night, (a+) and (b+), are reported beside them for reference.
TARGETS: tuple[tuple[str, str, str, str, Callable[[float], bool]], ...] = (
    ("consolidation / read floor (a/c)", "a", "c", "≤ 1.5", lambda r: r <= 1.5),
    ("user script / consolidation (d/a)", "d", "a", "≥ 15", lambda r: r >= 15),
    ("rerun / full run (b/a)", "b", "a", "≤ 0.10", lambda r: r <= 0.10),
    ("write_master / XlsxWriter floor (m/e)", "m", "e", "≤ 1.3", lambda r: r <= 1.3),
    ("whole night / read floor (a+/c), for reference", "a+", "c", "(≤ 1.5 is a's)", lambda r: r <= 1.5),
    ("user script / whole night (d/a+), for reference", "d", "a+", "(≥ 15 is a's)", lambda r: r >= 15),
    ("whole rerun / whole night (b+/a+)", "b+", "a+", "≤ 0.10", lambda r: r <= 0.10),
    ("store floor / read floor (f/c), for reference", "f", "c", "(a/c's floor)", lambda r: r <= 1.5),
)
# Phases of a consolidation that are not the register stage: what evaluation and the master add.
OWNERSHIP_PHASE = "ownership (_isolate, incl. its register reads)"
# the master reads the register sheet by sheet: timed apart, inside its phase
NESTED_READS = "register.current (sheets read inside write_master; evaluate streams its own)"
NIGHT_PHASES = (
    "register.current (load records)",
    "evaluate (domain)",
    "missing_submitters",
    "list_draws",
    "write_master",
)
REGISTER_WORK_TARGET = 2.0  # seconds, at province scale
PEAK_TARGET_MB = 1536  # at national scale


# ---------------------------------------------------------------------------- child plumbing


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (validation workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class _Clock:
    """Wall and CPU time of one timed region, plus the process's memory around it.

    CPU time includes the worker processes consolidation validates files in (they end, and are
    counted, before it returns); peak RSS is this process's alone.
    """

    def __enter__(self) -> _Clock:
        self.rss_before = _rss_mb()
        self.cpu0 = _cpu_seconds()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.cpu_seconds = _cpu_seconds() - self.cpu0
        self.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # the largest of the processes this one started and saw end (validation workers), if any
        self.workers_peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    def result(self, **details: Any) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "rss_before_mb": round(self.rss_before, 1),
            "workers_peak_rss_mb": round(self.workers_peak_rss_mb, 1),
            "details": details,
        }


def _in_child(function: Callable[..., Any], *args: Any, isolate: bool = True) -> Any:
    """Run one measurement in a fresh interpreter (spawn), so peak RSS is its own.

    ``isolate=False`` runs it in this process (the smoke test): quicker, but every peak RSS is
    then this process's peak so far.
    """
    if not isolate:
        return function(*args)
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def _corpus_files(root: Path) -> list[tuple[str, Path]]:
    from sheetsync.drive import Drive

    return Drive(root).submissions()


# ---------------------------------------------------------------------------- (a) and (b)


@contextmanager
def _stage_timers(
    phases: dict[str, float], merges: dict[str, float], cpu: dict[str, float] | None = None
) -> Iterator[None]:
    """Time the stage functions consolidate() calls, by wrapping them; restored on exit.

    ``phases`` gets wall seconds per stage, ``cpu`` (if given) this process's CPU seconds.
    """
    cpu = {} if cpu is None else cpu
    merge_cpu: dict[str, float] = {}
    import sheetsync.consolidate as consolidation
    import sheetsync.validate as validation
    from sheetsync.store import Register
    from sheetsync.validate_parallel import PackedResult

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started, cpu_started = time.perf_counter(), _cpu_seconds()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - started
                cpu[name] = cpu.get(name, 0.0) + _cpu_seconds() - cpu_started

        return wrapper

    def per_file(function: Callable[..., Any]) -> Callable[..., Any]:
        def merge_file(register: Any, result: Any, **kwargs: Any) -> Any:
            started, cpu_started = time.perf_counter(), time.process_time()
            try:
                return function(register, result, **kwargs)
            finally:
                merges[result.path] = time.perf_counter() - started
                merge_cpu[result.path] = time.process_time() - cpu_started

        return merge_file

    inside: list[str] = []  # the enclosing phase, for calls timed differently inside it

    def enclosing(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                inside.append(name)
                try:
                    return timed(name, function)(*args, **kwargs)
                finally:
                    inside.pop()

            return wrapper

        return wrap

    def current(function: Callable[..., Any]) -> Callable[..., Any]:
        loading = timed("register.current (load records)", function)
        nested = timed(NESTED_READS, function)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not inside:
                return loading(*args, **kwargs)
            if inside[-1] == OWNERSHIP_PHASE:
                return function(*args, **kwargs)
            return nested(*args, **kwargs)

        return wrapper

    # validate_file, read_workbook and file_hash are timed only for files validated in this
    # process: with several files they run in worker processes (sheetsync.validate_parallel),
    # and "validate all files" is the wall time of the whole step
    patches: list[tuple[Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]]] = [
        (validation, "read_workbook", lambda f: timed("read (calamine, in validate)", f)),
        (validation, "file_hash", lambda f: timed("hash files", f)),
        (consolidation, "_validate_all", lambda f: timed("validate all files (skip or validate)", f)),
        (consolidation, "validate_file", lambda f: timed("validate_file (incl. read, hash)", f)),
        (PackedResult, "unpack", lambda f: timed("unpack each file's result (in order)", f)),
        (consolidation, "check_references", lambda f: timed("check_references (night-wide)", f)),
        (consolidation, "_isolate", enclosing(OWNERSHIP_PHASE)),
        (consolidation, "merge_file", per_file),
        (Register, "current_keys", lambda f: timed("register.current_keys", f)),
        (Register, "current", current),
        (consolidation, "evaluate", enclosing("evaluate (domain)")),
        (consolidation, "missing_submitters", lambda f: timed("missing_submitters", f)),
        (consolidation, "list_draws", lambda f: timed("list_draws", f)),
        (consolidation, "write_master", enclosing("write_master")),
        (Register, "record_run", lambda f: timed("record_run", f)),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, wrap in patches:
            setattr(owner, name, wrap(getattr(owner, name)))
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
        cpu["merge_file (all files)"] = sum(merge_cpu.values())
        cpu.update({f"merge_file {path}": seconds for path, seconds in merge_cpu.items()})


def measure_consolidation(
    root: str,
    register_url: str,
    run_at: datetime,
    replace: dict[str, str] | None = None,
    keep_master: str | None = None,
) -> dict[str, Any]:
    """consolidate() over the inbox, ``replace`` mapping inbox paths to the files read instead.

    ``keep_master``: after the clock stops, copy the master to this path and pickle what
    ``write_master`` was given beside it (``.input.pickle``), for (e) and (m).
    """
    import sheetsync.consolidate as consolidation
    from sheetsync.drive import Drive
    from sheetsync.profile import load_profile

    phases: dict[str, float] = {}
    merges: dict[str, float] = {}
    drive = Drive(Path(root))
    profile = load_profile(Path(root) / "profile.toml")
    files = drive.submissions()
    if replace:
        files = [(folder, Path(replace.get(str(path), str(path)))) for folder, path in files]
    cpu: dict[str, float] = {}
    given: dict[str, Any] = {}
    real_write_master = consolidation.write_master

    def write_master(*args: Any, **kwargs: Any) -> Any:
        given.update(args=args[1:], kwargs=kwargs)  # references only: no copy inside the clock
        return real_write_master(*args, **kwargs)

    consolidation.write_master = write_master
    try:
        with _stage_timers(phases, merges, cpu), _Clock() as clock:
            report = consolidation.consolidate(
                drive, profile, as_of=run_at.date(), register_url=register_url, now=run_at, files=files
            )
    finally:
        consolidation.write_master = real_write_master
    if keep_master is not None:
        import pickle

        from sheetsync.records import RecordSource
        from sheetsync.store import open_register

        shutil.copyfile(report.master_path, keep_master)
        records = given["kwargs"].get("records")
        if isinstance(records, RecordSource):
            # the night reads the register sheet by sheet as it writes; (m) times the writing
            # alone, on the same records read up front, as (e) writes from memory too
            with open_register(register_url) as register:
                source = register.current_records(list(records))
                given["kwargs"]["records"] = {name: source[name] for name in source}
        with open(f"{keep_master}.input.pickle", "wb") as handle:
            pickle.dump(given, handle, protocol=pickle.HIGHEST_PROTOCOL)
    phases["merge_file (all files)"] = sum(merges.values())
    nested = (
        "read (calamine, in validate)",
        "hash files",
        "validate_file (incl. read, hash)",
        "register.current_keys",
        NESTED_READS,
    )  # inside "validate all files", evaluate or write_master; not added to the others
    phases["other"] = clock.seconds - sum(s for name, s in phases.items() if name not in nested)
    cpu["other"] = clock.cpu_seconds - sum(
        s for name, s in cpu.items() if name in phases and name not in (*nested, "other")
    )
    # the register stage: everything but what evaluation and the master add
    register_stage = clock.seconds - sum(phases.get(name, 0.0) for name in NIGHT_PHASES)
    register_stage_cpu = clock.cpu_seconds - sum(cpu.get(name, 0.0) for name in NIGHT_PHASES)
    changed = {
        name: round(seconds, 3) for name, seconds in merges.items() if replace and name.startswith("changes/")
    }
    changed_cpu = {name: round(cpu[f"merge_file {name}"], 3) for name in changed}
    problems = sum(len(outcome.result.problems) for outcome in report.files)
    return clock.result(
        register_stage_seconds=round(register_stage, 3),
        register_stage_cpu_seconds=round(register_stage_cpu, 3),
        files=len(report.files),
        rows_accepted=sum(outcome.result.rows_accepted for outcome in report.files),
        rows_rejected=sum(outcome.result.rows_rejected for outcome in report.files),
        problems=problems,
        merged_inserted=sum(c.inserted for o in report.files for c in o.merged.values()),
        merged_updated=sum(c.updated for o in report.files for c in o.merged.values()),
        already_registered=sum(1 for outcome in report.files if outcome.already_registered),
        master_bytes=report.master_path.stat().st_size,
        phases={name: round(seconds, 3) for name, seconds in phases.items()},
        phases_cpu={name: round(cpu.get(name, 0.0), 3) for name in phases},
        changed_file_merge_seconds=changed,
        changed_file_merge_cpu_seconds=changed_cpu,
        slowest_merges=sorted(((round(s, 3), n) for n, s in merges.items()), reverse=True)[:3],
    )


# ---------------------------------------------------------------------------- (c)


def measure_read_floor(paths: Sequence[str]) -> dict[str, Any]:
    import python_calamine

    cells = 0
    with _Clock() as clock:
        for path in paths:
            book = python_calamine.CalamineWorkbook.from_path(path)
            for name in book.sheet_names:
                rows = book.get_sheet_by_name(name).to_python(skip_empty_area=True)
                cells += sum(len(row) for row in rows)
            book.close()
    return clock.result(files=len(paths), cells=cells)


# ---------------------------------------------------------------------------- (f)


def _read_raw_rows(_folder: str, path: Path) -> tuple[str, list[tuple[str, list[str]]]]:
    """One file's hash and every data row of every sheet as JSON text, as a worker would hand it over."""
    import hashlib

    import orjson
    import python_calamine

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    sheets = []
    for name in book.sheet_names:
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=True)
        sheets.append((name, [orjson.dumps(row).decode() for row in rows[1:]]))
    book.close()
    return digest, sheets


def measure_store_floor(root: str, register: str) -> dict[str, Any]:
    """(f): what consolidation costs with nothing checked, the floor under a/c.

    The read floor (c) done the way the night does it: through the night's own
    ``validate_in_order`` (so in as many spawned workers as the night would start, or in this
    process when the night would validate there), each file hashed (the night skips unchanged files by
    hash) and its rows encoded as JSON; then every row stored as it came into a fresh SQLite
    table, in one transaction.  No validation, no references, no merge: a consolidation that
    checks every cell can only be slower, so f/c is how much of a/c's 1.5 is left for checking.
    """
    import sqlite3

    from sheetsync.validate_parallel import planned_workers, validate_in_order

    files = _corpus_files(Path(root))
    register_path = Path(register)
    for stale in register_path.parent.glob(register_path.name + "*"):
        stale.unlink()
    workers = planned_workers(files)
    rows = 0
    with _Clock() as clock:
        read = validate_in_order(_read_raw_rows, files)
        connection = sqlite3.connect(register_path)
        connection.execute(
            "CREATE TABLE raw_rows (file TEXT, file_hash TEXT, sheet TEXT, row INTEGER, data TEXT)"
        )
        for (_, path), (digest, sheets) in zip(files, read, strict=True):
            for name, encoded in sheets:
                connection.executemany(
                    "INSERT INTO raw_rows VALUES (?, ?, ?, ?, ?)",
                    ((str(path), digest, name, index, data) for index, data in enumerate(encoded, start=2)),
                )
                rows += len(encoded)
        connection.commit()
        connection.close()
    stored = register_path.stat().st_size
    register_path.unlink()
    return clock.result(files=len(files), rows=rows, workers=workers, stored_bytes=stored)


# ---------------------------------------------------------------------------- (d)


def frictionless_schemas() -> dict[str, dict[str, Any]]:
    """Table Schema descriptors of the contract sheets, as a user would write them down."""
    from sheetsync.schemas import SHEETS, Kind

    types = {Kind.INTEGER: "integer", Kind.DECIMAL: "number", Kind.DATE: "date"}
    schemas: dict[str, dict[str, Any]] = {}
    for model in SHEETS:
        fields = []
        for column in model.columns().values():
            constraints: dict[str, Any] = {}
            if column.required:
                constraints["required"] = True
            if column.kind is Kind.CHOICE:
                constraints["enum"] = list(column.choices)
            if column.minimum is not None and column.kind in types:
                constraints["minimum"] = (
                    int(column.minimum) if column.kind is Kind.INTEGER else float(column.minimum)
                )
            if column.kind not in types:
                constraints["maxLength"] = column.max_length
            fields.append(
                {"name": column.header, "type": types.get(column.kind, "string"), "constraints": constraints}
            )
        schemas[model.sheet_name] = {"fields": fields}
    return schemas


def measure_user_script(paths: Sequence[str], total_rows: int | None = None) -> dict[str, Any]:
    """The obvious script: read each file with pandas/openpyxl, validate it, concat per sheet."""
    import warnings

    import frictionless
    import pandas as pd

    warnings.simplefilter("ignore")  # openpyxl warns about the data validation extension
    schemas = {name: frictionless.Schema.from_descriptor(d) for name, d in frictionless_schemas().items()}
    errors = 0
    rows = 0
    with _Clock() as clock:
        frames: dict[str, list[Any]] = {}
        for path in paths:
            book = pd.read_excel(path, sheet_name=None, engine="openpyxl")
            for sheet, frame in book.items():
                if sheet not in schemas:
                    continue  # the stamp sheet
                frame.columns = [str(column).lstrip("*") for column in frame.columns]
                frame = frame[[c for c in frame.columns if c in {f.name for f in schemas[sheet].fields}]]
                data = [list(frame.columns), *frame.astype(object).where(frame.notna(), None).values.tolist()]
                report = frictionless.Resource(data=data, schema=schemas[sheet]).validate()
                errors += report.stats["errors"]
                rows += len(frame)
                frames.setdefault(sheet, []).append(frame.assign(来源文件=Path(path).name))
        merged = {sheet: pd.concat(parts, ignore_index=True) for sheet, parts in frames.items()}
    result = clock.result(
        files=len(paths),
        rows=rows,
        frictionless_errors=errors,
        concat_rows=sum(len(f) for f in merged.values()),
    )
    if total_rows and rows:
        result["details"]["extrapolated_from_rows"] = rows
        scale = total_rows / rows
        result["seconds"] = round(result["seconds"] * scale, 3)
        result["cpu_seconds"] = round(result["cpu_seconds"] * scale, 3)
        result["details"]["scale"] = round(scale, 3)
    return result


# ---------------------------------------------------------------------------- (e) and (m)


def count_cells(path: str) -> dict[str, int]:
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(path)
    counts = {}
    for name in book.sheet_names:
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        counts[name] = sum(1 for row in rows for cell in row if cell not in ("", None))
    book.close()
    return counts


def measure_write_master(master: str, out: str) -> dict[str, Any]:
    """write_master on exactly what it was given in run (a), in a fresh process."""
    import pickle

    from sheetsync.render_master import write_master

    with open(f"{master}.input.pickle", "rb") as handle:
        given = pickle.load(handle)
    with _Clock() as clock:
        write_master(Path(out), *given["args"], **given["kwargs"])
    cells = count_cells(out)
    return clock.result(cells=sum(cells.values()), cells_by_sheet=cells, bytes=Path(out).stat().st_size)


def load_cells(path: str) -> list[tuple[str, list[list[Any]]]]:
    """Every sheet of a workbook as python-calamine reads it: text, floats, dates, times."""
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(path)
    sheets = [
        (name, book.get_sheet_by_name(name).to_python(skip_empty_area=False)) for name in book.sheet_names
    ]
    book.close()
    return sheets


def measure_xlsxwriter_floor(master: str, out: str) -> dict[str, Any]:
    """XlsxWriter constant-memory writing exactly the cells of ``master``, one plain call per cell.

    The cells are loaded from the master run (a) wrote before the clock starts, so the floor
    follows whatever the master holds; dates and times keep a date format, nothing else is styled.
    """
    from xlsxwriter import Workbook

    sheets = load_cells(master)
    epoch = date(1899, 12, 30).toordinal()
    cells = 0
    by_sheet: dict[str, int] = {}
    with _Clock() as clock:
        book = Workbook(out, {"constant_memory": True})
        date_format = book.add_format({"num_format": "yyyy-mm-dd"})
        time_format = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        for name, rows in sheets:
            sheet = book.add_worksheet(name)
            write_string, write_number = sheet.write_string, sheet.write_number
            written = 0
            for r, row in enumerate(rows):
                for col, value in enumerate(row):
                    kind = value.__class__
                    if kind is str:
                        if not value:
                            continue
                        write_string(r, col, value)
                    elif kind is float or kind is int:
                        write_number(r, col, value)
                    elif kind is date:
                        write_number(r, col, value.toordinal() - epoch, date_format)
                    elif kind is datetime:
                        seconds = value.hour * 3600 + value.minute * 60 + value.second
                        write_number(r, col, value.toordinal() - epoch + seconds / 86400, time_format)
                    elif kind is bool:
                        sheet.write_boolean(r, col, value)
                    elif value is None:
                        continue
                    else:  # a duration: Excel keeps it as a number of days
                        write_number(r, col, value.total_seconds() / 86400)
                    written += 1
            by_sheet[name] = written
            cells += written
        book.close()
    return clock.result(cells=cells, cells_by_sheet=by_sheet, bytes=Path(out).stat().st_size)


# ---------------------------------------------------------------------------- profile


def profile_consolidation(root: str, register_url: str, run_at: datetime, out: str, top: int = 25) -> str:
    import cProfile
    import io
    import pstats

    from sheetsync.consolidate import consolidate
    from sheetsync.drive import Drive
    from sheetsync.profile import load_profile

    drive = Drive(Path(root))
    profile = load_profile(Path(root) / "profile.toml")
    profiler = cProfile.Profile()
    profiler.enable()
    consolidate(drive, profile, as_of=run_at.date(), register_url=register_url, now=run_at)
    profiler.disable()
    profiler.dump_stats(out)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return text.getvalue()


# ---------------------------------------------------------------------------- the run


def _fresh_register(work: Path, name: str) -> tuple[Path, str]:
    for old in work.glob(f"{name}.sqlite*"):
        old.unlink()
    path = work / f"{name}.sqlite"
    return path, f"sqlite:///{path}"


def _copy_register(source: Path, work: Path, name: str) -> str:
    target, url = _fresh_register(work, name)
    for part in source.parent.glob(f"{source.name}*"):
        shutil.copyfile(part, target.parent / part.name.replace(source.name, target.name))
    return url


def machine() -> dict[str, Any]:
    from importlib import metadata

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    versions = {}
    for package in (
        "python-calamine",
        "XlsxWriter",
        "pydantic",
        "SQLAlchemy",
        "pandas",
        "openpyxl",
        "frictionless",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    commit = os.environ.get("BENCH_COMMIT", "unknown")  # when run from an exported tree
    try:
        import subprocess

        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "sheetsync"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if dirty:
            commit += " + uncommitted changes in sheetsync/"
    except Exception:  # noqa: BLE001 - a machine description must never fail the run
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "commit": commit,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def run_benchmark(
    root: Path,
    *,
    only: Sequence[str] = tuple(MEASUREMENTS),
    user_sample: int | None = None,
    progress: Callable[[str], None] | None = None,
    isolate: bool = True,
) -> dict[str, Any]:
    """Every measurement of ``only`` on the corpus at ``root``; returns the results dict."""
    from benchmarks.make_corpus import load_manifest

    say = progress or (lambda text: None)
    root = root.resolve()
    manifest = load_manifest(root)
    work = root / WORK
    work.mkdir(exist_ok=True)
    paths = [str(path) for _, path in _corpus_files(root)]
    register_a, url_a = _fresh_register(work, "register_a")
    results: dict[str, Any] = {}
    started = datetime.now().replace(microsecond=0)
    load = [round(x, 2) for x in os.getloadavg()]
    if "a" in only or "b" in only or "e" in only or "m" in only:
        say("(a) full consolidation …")
        master_a = str(work / "master_a.xlsx")
        results["a+"] = _in_child(
            measure_consolidation, str(root), url_a, RUN_AT, None, master_a, isolate=isolate
        )
        results["a"] = register_stage(results["a+"])
    if "b" in only:
        say("(b) rerun after one changed file …")
        url_b = _copy_register(register_a, work, "register_b")
        changed = manifest["changed"]
        replace = {str(root / changed["original"]): str(root / changed["path"])}
        results["b+"] = _in_child(measure_consolidation, str(root), url_b, RERUN_AT, replace, isolate=isolate)
        results["b+"]["details"]["edits"] = changed["edits"]
        results["b"] = register_stage(results["b+"])
    if "c" in only:
        say("(c) read floor …")
        results["c"] = _in_child(measure_read_floor, paths, isolate=isolate)
    if "f" in only:
        say("(f) store floor …")
        results["f"] = _in_child(
            measure_store_floor, str(root), str(work / "store_floor.sqlite"), isolate=isolate
        )
    if "d" in only:
        sample = paths
        total_rows = None
        if user_sample and user_sample < len(paths):
            step = len(paths) / user_sample
            sample = [paths[int(i * step)] for i in range(user_sample)]
            total_rows = manifest["rows"]
        say(f"(d) user script on {len(sample)} file(s) …")
        results["d"] = _in_child(measure_user_script, sample, total_rows, isolate=isolate)
        if total_rows:
            results["d"]["details"]["sampled_files"] = len(sample)
    if "m" in only:
        say("(m) write_master alone …")
        results["m"] = _in_child(measure_write_master, master_a, str(work / "master_m.xlsx"), isolate=isolate)
    if "e" in only:
        say("(e) XlsxWriter floor …")
        results["e"] = _in_child(
            measure_xlsxwriter_floor, master_a, str(work / "master_e.xlsx"), isolate=isolate
        )
    for stale in (f"{master_a}.input.pickle",) if "a" in results else ():
        Path(stale).unlink(missing_ok=True)
    return {
        "corpus": {
            "name": manifest["size"],
            "root": str(root),
            "workbooks": manifest["workbooks"],
            "rows": manifest["rows"],
            "bytes": manifest["bytes"],
            "bad_cells": sum(manifest["planted"].values()),
            "seed": manifest["seed"],
        },
        "started_at": started.isoformat(sep=" "),
        "load_average_at_start": load,
        "isolated": isolate,
        "machine": machine(),
        "measurements": results,
        "ratios": ratios(results),
        "targets": targets(results, manifest["size"]),
    }


def register_stage(whole: dict[str, Any]) -> dict[str, Any]:
    """(a) out of (a+): the same run's register stage (its peak memory is the whole run's)."""
    details = whole["details"]
    return {
        "seconds": details["register_stage_seconds"],
        "cpu_seconds": details["register_stage_cpu_seconds"],
        "peak_rss_mb": whole["peak_rss_mb"],
        "workers_peak_rss_mb": whole.get("workers_peak_rss_mb", 0.0),
        "rss_before_mb": whole["rss_before_mb"],
        "details": details,
    }


def ratios(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    pairs = [
        ("a/c", "a", "c"),
        ("d/a", "d", "a"),
        ("b/a", "b", "a"),
        ("m/e", "m", "e"),
        ("a+/c", "a+", "c"),
        ("d/a+", "d", "a+"),
        ("b+/a+", "b+", "a+"),
        ("f/c", "f", "c"),
    ]
    for name, top, bottom in pairs:
        if top in results and bottom in results:
            out[name] = {
                "wall": _ratio(results[top]["seconds"], results[bottom]["seconds"]),
                "cpu": _ratio(results[top]["cpu_seconds"], results[bottom]["cpu_seconds"]),
            }
    if "a" in results and "e" in results:
        inside = results["a"]["details"]["phases"].get("write_master")
        if inside is not None:
            out["write_master in (a) / e"] = {
                "wall": _ratio(inside, results["e"]["seconds"]),
                "cpu": float("nan"),
            }
    return out


def _ratio(top: float, bottom: float) -> float:
    return round(top / bottom, 3) if bottom else float("inf")


def targets(results: dict[str, Any], corpus: str) -> list[dict[str, Any]]:
    rows = []
    table = ratios(results)
    for name, top, bottom, text, check in TARGETS:
        key = f"{top}/{bottom}"
        if key in table:
            value = table[key]["wall"]
            rows.append(
                {
                    "target": name,
                    "value": value,
                    "cpu_value": table[key]["cpu"],
                    "wanted": text,
                    "met": bool(check(value)),
                }
            )
    if "b" in results:
        value = results["b"]["seconds"]
        applies = corpus == "province"
        rows.append(
            {
                "target": "rerun register work (register stage of (b)), s",
                "value": value,
                "cpu_value": results["b"]["cpu_seconds"],
                "wanted": f"≤ {REGISTER_WORK_TARGET:g} s at province scale",
                "met": bool(value <= REGISTER_WORK_TARGET) if applies else None,
            }
        )
        changed = results["b"]["details"]["changed_file_merge_seconds"]
        changed_cpu = results["b"]["details"].get("changed_file_merge_cpu_seconds", {})
        rows.append(
            {
                "target": "  of which merge of the changed file, s",
                "value": round(sum(changed.values()), 3),
                "cpu_value": round(sum(changed_cpu.values()), 3) if changed_cpu else None,
                "wanted": "(part of the above)",
                "met": None,
            }
        )
    if "a" in results:
        value = results["a"]["peak_rss_mb"]
        rows.append(
            {
                "target": "peak memory of (a), MB",
                "value": value,
                "cpu_value": None,
                "wanted": f"≤ {PEAK_TARGET_MB} MB at national scale",
                "met": bool(value <= PEAK_TARGET_MB) if corpus == "national" else None,
            }
        )
    return rows


# ---------------------------------------------------------------------------- RESULTS.md


def results_markdown(result: dict[str, Any]) -> str:
    corpus = result["corpus"]
    m = result["machine"]
    lines = [
        f"## {corpus['name']} — {corpus['workbooks']:,} workbooks, {corpus['rows']:,} rows — {result['started_at']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM; Python {m['python']} "
        f"({m['platform']}); commit {m['commit']}. Load average at start: "
        f"{', '.join(str(x) for x in result['load_average_at_start'])}.",
        "Libraries: " + ", ".join(f"{name} {version}" for name, version in m["versions"].items()) + ".",
        f"Corpus: seed {corpus['seed']}, {corpus['bytes'] / 1e6:.1f} MB of .xlsx, "
        f"{corpus['bad_cells']:,} bad cells planted.",
        "",
        "| measurement | wall s | CPU s | peak RSS MB |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in MEASUREMENTS.items():
        item = result["measurements"].get(key)
        if item is None:
            continue
        note = ""
        if key == "d" and "scale" in item["details"]:
            note = (
                f" (extrapolated ×{item['details']['scale']} from {item['details']['sampled_files']} files)"
            )
        lines.append(
            f"| {label}{note} | {item['seconds']:.2f} | {item['cpu_seconds']:.2f} | {item['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "| target | measured (wall) | measured (CPU) | wanted | met |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for row in result["targets"]:
        cpu = "" if row["cpu_value"] is None else _number(row["cpu_value"])
        met = {True: "yes", False: "**no**", None: "n/a at this scale"}[row["met"]]
        if row["wanted"].startswith("("):  # reported beside a target, not a target itself
            met = "" if row["met"] is None else f"({met.strip('*')})"
        lines.append(f"| {row['target']} | {_number(row['value'])} | {cpu} | {row['wanted']} | {met} |")
    a = result["measurements"].get("a")
    if a is not None:
        lines += [
            "",
            f"(a) register stage = (a+) minus {', '.join(NIGHT_PHASES)}: "
            f"{a['seconds']:.2f} s wall, {a['cpu_seconds']:.2f} s CPU; peak RSS is the whole run's"
            + (
                f" (the validation workers, one per core while files are validated, are not in it:"
                f" the largest peaked at {a['workers_peak_rss_mb']:.0f} MB)."
                if a.get("workers_peak_rss_mb")
                else "."
            ),
            f"(a+) phases, {_phases_unit(a['details'])}: {_phases_text(a['details'])}.",
        ]
        lines.append(
            f"(a) {a['details']['rows_accepted']:,} rows accepted, {a['details']['rows_rejected']:,} rejected, "
            f"{a['details']['problems']:,} problems; master {a['details']['master_bytes'] / 1e6:.1f} MB."
        )
    b = result["measurements"].get("b")
    if b is not None:
        lines.append(
            f"(b+) phases, {_phases_unit(b['details'])}: {_phases_text(b['details'])}; "
            f"{b['details']['already_registered']} files skipped as already registered; edits in the changed file: "
            f"{b['details']['edits']}."
        )
    e, mm = result["measurements"].get("e"), result["measurements"].get("m")
    if e is not None and mm is not None:
        lines.append(
            f"(e) wrote the {e['details']['cells']:,} cells of (a)'s master; (m) wrote {mm['details']['cells']:,}."
        )
    f = result["measurements"].get("f")
    if f is not None:
        lines.append(
            f"(f) {f['details']['rows']:,} rows from {f['details']['files']:,} files in {f['details']['workers']} "
            f"worker(s), {f['details']['stored_bytes'] / 1e6:.1f} MB of SQLite."
        )
    lines.append("")
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _phases_unit(details: dict[str, Any]) -> str:
    return "wall/CPU s" if details.get("phases_cpu") else "wall s"


def _phases_text(details: dict[str, Any]) -> str:
    cpu = details.get("phases_cpu", {})
    return ", ".join(
        f"{name} {seconds:.2f}" + (f"/{cpu[name]:.2f}" if name in cpu else "")
        for name, seconds in details["phases"].items()
    )


def append_results(result: dict[str, Any], path: Path = RESULTS) -> str:
    text = results_markdown(result)
    if not path.exists():
        path.write_text(
            "# Benchmark results\n\nAppended by `benchmarks/run.py`; see benchmarks/README.md.\n\n",
            encoding="utf-8",
        )
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n" + text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the side-by-side benchmark on one corpus.")
    parser.add_argument(
        "--corpus", required=True, help="corpus name (benchmarks/corpora/NAME) or a drive folder"
    )
    parser.add_argument(
        "--only", default="".join(MEASUREMENTS), help="measurements to run, e.g. 'ac' (default all)"
    )
    parser.add_argument("--user-sample", type=int, help="run (d) on this many files and extrapolate per row")
    parser.add_argument("--no-append", action="store_true", help="do not append to benchmarks/RESULTS.md")
    parser.add_argument("--json", type=Path, help="also write the results dict here")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the RESULTS.md to append to")
    parser.add_argument(
        "--profile", action="store_true", help="profile (a) with cProfile instead of measuring"
    )
    args = parser.parse_args(argv)
    root = Path(args.corpus)
    if not root.is_dir():
        from benchmarks.make_corpus import CORPORA

        root = CORPORA / args.corpus
    if not (root / "corpus.json").is_file():
        parser.error(f"no corpus at {root}; build it with benchmarks/make_corpus.py")

    def say(text: str) -> None:
        print(f"[{datetime.now():%H:%M:%S}] {text}", file=sys.stderr, flush=True)

    if args.profile:
        work = root.resolve() / WORK
        work.mkdir(exist_ok=True)
        _, url = _fresh_register(work, "register_profile")
        text = _in_child(
            profile_consolidation, str(root.resolve()), url, RUN_AT, str(work / "profile_a.pstats")
        )
        (work / "profile_a.txt").write_text(text, encoding="utf-8")
        print(text)
        return 0
    result = run_benchmark(root, only=tuple(args.only), user_sample=args.user_sample, progress=say)
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    text = append_results(result, args.results) if not args.no_append else results_markdown(result)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
