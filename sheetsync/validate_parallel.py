"""Validate a night's files: the ones already registered skipped, the rest across the cores.

Validation reads nothing but the file and a few keys, so files are independent of each other:
a process pool (spawn, so a child never inherits the parent's open register connection) checks
them side by side, and the results come back in the order the files were given.  Two shortcuts
keep a rerun cheap:

* a file whose bytes its submitter already sent (same SHA-256, a submission in the register)
  is not validated again: merging it would change nothing, so its result is rebuilt from what
  the register recorded then (status, counts, problems) and it is still reported, answered
  and archived like any other file;
* a handful of files is validated in this process: starting the pool costs more than it saves.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sheetsync.read import file_hash
from sheetsync.records import FileResult, RegisteredFile
from sheetsync.schemas import Enterprise
from sheetsync.store import Register
from sheetsync.validate import enterprise_keys, referenced_keys

log = logging.getLogger(__name__)

# Fewer files, or fewer bytes, than this are validated in this process: starting the workers
# (a fresh interpreter each, importing sheetsync) costs about two seconds, which a city's
# 18 workbooks (1.4 MB, validated here in about two seconds) would not win back.
MIN_FILES_FOR_POOL = 4
MIN_BYTES_FOR_POOL = 4 << 20
# Environment variable capping the worker processes (1 validates everything in this process).
WORKERS_VARIABLE = "SHEETSYNC_WORKERS"


@dataclass(frozen=True)
class PackedResult:
    """A file's result as pickled where it was validated, with what the night needs beforehand.

    Consolidation checks and merges the files one at a time, in upload order; only the
    run-wide reference check needs to know about every file first, and these few keys are all
    it needs.  Holding every file's result unpacked until the last one was validated cost a
    national night some 2 GB (a third of it never given back once freed).
    """

    data: bytes
    enterprise_keys: frozenset[tuple[Any, ...]]  # the enterprises its valid rows register
    referenced: frozenset[tuple[Any, ...]]  # the enterprises its valid rows refer to

    def unpack(self) -> FileResult:
        result = pickle.loads(self.data)
        assert isinstance(result, FileResult)
        return result


def pack_result(result: FileResult) -> PackedResult:
    return PackedResult(
        data=pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL),
        enterprise_keys=frozenset(enterprise_keys([result])),
        referenced=frozenset(referenced_keys([result], Enterprise)),
    )


Validated = FileResult | PackedResult
Validate = Callable[[str, Path], Validated]


def registered_results(
    register: Register, files: Sequence[tuple[str, Path]], display_name: Callable[[Path], str]
) -> list[FileResult | None]:
    """For each file, the result recorded for its bytes if its submitter already sent exactly them.

    The register is asked once for the whole night, not once per file.  A submission recorded as
    ``not-processed`` (its validation failed that night) is not trusted: the file is validated
    again, and so is a file that cannot be hashed (validation reports it).
    """
    digests: list[str | None] = []
    for _folder, path in files:
        try:
            digests.append(file_hash(path))
        except OSError:
            digests.append(None)
    known = register.registered_submissions(
        (folder, digest) for (folder, _), digest in zip(files, digests, strict=True) if digest is not None
    )
    results: list[FileResult | None] = []
    for (folder, path), digest in zip(files, digests, strict=True):
        found = None if digest is None else known.get((folder, digest))
        if found is None or any(problem.code == "not-processed" for problem in found["problems"]):
            results.append(None)
            continue
        assert digest is not None
        results.append(_rebuilt(found, folder, digest, display_name(path)))
    return results


def _rebuilt(found: dict[str, Any], submitter: str, digest: str, display_name: str) -> FileResult:
    """The registered submission as a result: its status, counts and problems, under today's name."""
    problems = [
        problem if problem.file == display_name else problem.model_copy(update={"file": display_name})
        for problem in found["problems"]
    ]
    return FileResult(
        path=display_name,
        file_hash=digest,
        submitter=submitter,
        stamp=None,
        problems=problems,
        registered=RegisteredFile(
            submission_id=int(found["id"]),
            status=found["status"],
            rows_accepted=int(found["rows_accepted"]),
            rows_rejected=int(found["rows_rejected"]),
        ),
    )


def worker_count(files: int) -> int:
    """Processes to validate ``files`` files with: one per core, at most one per file."""
    cores = os.cpu_count() or 1
    try:
        cap = int(os.environ.get(WORKERS_VARIABLE, "") or cores)
    except ValueError:
        cap = cores
    return max(1, min(cores, cap, files))


def planned_workers(files: Sequence[tuple[str, Path]], workers: int | None = None) -> int:
    """The processes :func:`validate_in_order` uses for ``files``; 1 is this process alone.

    Apart so that the benchmark's floor (f) starts exactly the workers a night would.
    """
    if workers is None:
        count = worker_count(len(files)) if _total_bytes(files) >= MIN_BYTES_FOR_POOL else 1
    else:
        count = max(1, min(workers, len(files)))
    return count if count >= 2 and len(files) >= MIN_FILES_FOR_POOL else 1


def validate_in_order(
    validate: Validate,
    files: Sequence[tuple[str, Path]],
    *,
    progress: Callable[[Path], None] | None = None,
    workers: int | None = None,
) -> list[Validated]:
    """``validate(folder, path)`` for every file, in order; across processes when it pays.

    ``workers`` forces the number of processes (1: all here); by default one per core, capped by
    the ``SHEETSYNC_WORKERS`` environment variable, once the files are big enough to pay for them.

    ``validate`` must be picklable (a module-level function or a ``functools.partial`` of one)
    and must not raise for a bad file (consolidation's turns any error into ``not-processed``).
    ``progress`` is called with each file's path as its result arrives, in order.  Should the
    pool break (a worker killed), the files it has not answered are validated in this process.
    """
    count = planned_workers(files, workers)
    if count < 2:
        return _in_process(validate, files, progress)
    results: list[Validated] = []
    try:
        with ProcessPoolExecutor(count, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(validate, folder, path) for folder, path in files]
            for (_folder, path), future in zip(files, futures, strict=True):
                results.append(future.result())
                if progress is not None:
                    progress(path)
    except BrokenProcessPool:
        log.warning(
            "validation worker died; validating the remaining %d files here", len(files) - len(results)
        )
        results.extend(_in_process(validate, files[len(results) :], progress))
    return results


def _total_bytes(files: Sequence[tuple[str, Path]]) -> int:
    total = 0
    for _folder, path in files:
        try:
            total += path.stat().st_size
        except OSError:
            pass  # validation reports it
    return total


def _in_process(
    validate: Validate, files: Sequence[tuple[str, Path]], progress: Callable[[Path], None] | None
) -> list[Validated]:
    results: list[Validated] = []
    for folder, path in files:
        if progress is not None:
            progress(path)
        results.append(validate(folder, path))
    return results


def validate_night(
    register: Register,
    files: Sequence[tuple[str, Path]],
    validate: Validate,
    *,
    display_name: Callable[[Path], str],
    progress: Callable[[Path], None] | None = None,
    workers: int | None = None,
) -> list[Validated]:
    """One result per file, in order: registered files from the register, the rest validated."""
    results = registered_results(register, files, display_name)
    todo: list[tuple[str, Path]] = []
    for (folder, path), found in zip(files, results, strict=True):
        if found is None:
            todo.append((folder, path))
        elif progress is not None:
            progress(path)
    fresh = iter(validate_in_order(validate, todo, progress=progress, workers=workers))
    return [found if found is not None else next(fresh) for found in results]
