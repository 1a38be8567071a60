"""Smoke test of the benchmark harness (issue #7): a tiny corpus, every measurement, end to end.

Nothing here asserts a speed: timings live in benchmarks/RESULTS.md.  The measurements run in
this process (``isolate=False``) to keep the test to a few seconds; (d) needs frictionless (the
``bench`` extra) and is left out when it is not installed.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import make_corpus, run  # noqa: E402
from sheetsync.consolidate import consolidate  # noqa: E402
from sheetsync.drive import Drive  # noqa: E402
from sheetsync.profile import load_profile  # noqa: E402

HAS_FRICTIONLESS = importlib.util.find_spec("frictionless") is not None


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench") / "tiny"
    make_corpus.make_corpus("tiny", root, jobs=1, bad_share=0.05)
    return root


def test_tiny_corpus_is_a_drive_whose_bad_cells_are_each_reported(corpus: Path, tmp_path: Path) -> None:
    manifest = make_corpus.load_manifest(corpus)
    assert manifest["workbooks"] == 3
    assert 100 <= manifest["rows"] <= 250
    assert (corpus / "changes" / manifest["changed"]["submitter"]).is_dir()
    drive = Drive(corpus)
    assert drive.settings() is not None
    profile = load_profile(drive.settings().profile)
    assert {s.name for s in profile.submitters} == {f["submitter"] for f in manifest["files"]}

    report = consolidate(
        drive, profile, as_of=date(2014, 11, 30), register_url=f"sqlite:///{tmp_path / 'r.sqlite'}"
    )
    found = Counter(p.code for outcome in report.files for p in outcome.result.problems)
    assert found == Counter(manifest["planted"])  # each planted cell is reported once, nothing else
    assert set(manifest["planted"]) <= set(make_corpus.ERROR_KINDS)


def test_corpus_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    first = make_corpus.make_corpus("tiny", tmp_path / "one", jobs=1)
    second = make_corpus.make_corpus("tiny", tmp_path / "two", jobs=1)
    for key in ("rows_by_sheet", "planted", "changed"):
        assert first[key] == second[key]
    names = [f["path"] for f in first["files"]]
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_harness_measures_everything_and_writes_a_results_block(corpus: Path, tmp_path: Path) -> None:
    only = "abcdefm" if HAS_FRICTIONLESS else "abcefm"
    result = run.run_benchmark(corpus, only=only, isolate=False)

    measurements = result["measurements"]
    assert set(measurements) == set(only) | {"a+", "b+"}
    for item in measurements.values():
        assert item["seconds"] >= 0 and item["cpu_seconds"] >= 0 and item["peak_rss_mb"] > 0
    a, b = measurements["a"]["details"], measurements["b"]["details"]
    assert a["files"] == 3 and a["rows_rejected"] > 0 and a["merged_inserted"] > 0
    assert "write_master" in a["phases"] and "validate all files (skip or validate)" in a["phases"]
    # (a) is the register stage of the same run as (a+): the whole night less evaluation and master
    assert 0 < measurements["a"]["seconds"] < measurements["a+"]["seconds"]
    assert 0 < measurements["b"]["seconds"] < measurements["b+"]["seconds"]
    assert b["already_registered"] == 2  # only the changed file is new
    assert len(b["changed_file_merge_seconds"]) == 1 and b["merged_updated"] > 0
    assert measurements["c"]["details"]["cells"] > 0
    # (f) stores every data row of every file (and the rows of each file's 填报信息 stamp sheet)
    floor = measurements["f"]["details"]
    assert floor["files"] == 3 and floor["rows"] > make_corpus.load_manifest(corpus)["rows"]
    assert floor["workers"] == 1  # a tiny inbox is validated in the night's own process, and so is (f)
    master = run.count_cells(str(corpus / run.WORK / "master_a.xlsx"))
    assert measurements["e"]["details"]["cells_by_sheet"] == master  # exactly the master's cells
    assert measurements["m"]["details"]["cells_by_sheet"] == master  # the same master again
    assert {"a/c", "b/a", "m/e", "a+/c", "b+/a+", "f/c"} <= set(result["ratios"])
    assert any(row["target"].startswith("rerun register work") for row in result["targets"])

    path = tmp_path / "RESULTS.md"
    run.append_results(result, path)
    run.append_results(result, path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Benchmark results")
    headings = re.findall(
        r"^## tiny — 3 workbooks, [\d,]+ rows — \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", text, re.M
    )
    assert len(headings) == 2
    assert re.search(r"^Machine: .+, \d+ cores, [\d.]+ GB RAM; Python 3", text, re.M)
    for key in [*only, "a+", "b+"]:
        label = re.escape(run.MEASUREMENTS[key])
        assert re.search(rf"^\| {label}.* \| \d+\.\d\d \| \d+\.\d\d \| \d+ \|$", text, re.M), key
    assert re.search(
        r"^\| consolidation / read floor \(a/c\) \| (?:[\d.,]+|inf) \| (?:[\d.,]+|inf) \| ≤ 1\.5 \| (yes|\*\*no\*\*) \|$",
        text,
        re.M,
    )
