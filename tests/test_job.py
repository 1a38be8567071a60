"""The job file: defaults from the profile and the drive, paths from the job file's folder, Chinese errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sheetsync.drive import Drive
from sheetsync.job import JobConfig, JobFileError, load_job, write_job
from sheetsync.profile import load_profile

MINIMAL = 'name = "夜间汇总"\ndrive = ".."\nprofile = "guangzhou-2013"\nrun_at = "02:30"\n'


def _job_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "drive" / "sync_jobs" / "job.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_job_gets_defaults_from_profile_and_drive(tmp_path: Path) -> None:
    job = load_job(_job_file(tmp_path, MINIMAL))
    drive = Drive(tmp_path / "drive")
    assert job.drive == drive.root
    assert job.submitters == tuple(s.name for s in load_profile("guangzhou-2013").submitters)
    assert job.period == "monthly"
    assert job.register_url == drive.register_url
    assert job.master_path == drive.master_path
    assert (job.keep_masters, job.settle_seconds) == (7, 5.0)
    assert job.rules.name == "guangzhou-2013"


def test_period_defaults_to_the_profiles_reporting(tmp_path: Path) -> None:
    job = load_job(_job_file(tmp_path, MINIMAL.replace("guangzhou-2013", "beijing-2014")))
    assert job.period == "quarterly"
    explicit = load_job(
        _job_file(tmp_path, MINIMAL.replace("guangzhou-2013", "beijing-2014") + 'period = "monthly"\n')
    )
    assert explicit.period == "monthly"


def test_relative_paths_are_read_from_the_job_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = tmp_path / "drive" / "rules" / "city.toml"
    profile.parent.mkdir(parents=True)
    shipped = Path(__import__("sheetsync").__file__).parent / "profiles" / "guangzhou-2013.toml"
    profile.write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    path = _job_file(
        tmp_path,
        'name = "x"\ndrive = ".."\nprofile = "../rules/city.toml"\nrun_at = "2:05"\n'
        'register_url = "sqlite:///../db/reg.sqlite"\nmaster_path = "../out/总台账.xlsx"\n'
        'submitters = ["越秀区", "市经贸委"]\n',
    )
    monkeypatch.chdir(tmp_path)  # a scheduler's working folder must not matter
    job = load_job(Path("drive/sync_jobs/job.toml"))
    root = tmp_path / "drive"
    assert job.profile == str(profile)
    assert job.register_url == f"sqlite:///{(root / 'db' / 'reg.sqlite').as_posix()}"
    assert job.master_path == root / "out" / "总台账.xlsx"
    assert job.run_at == "02:05"
    assert job.submitters == ("越秀区", "市经贸委")
    assert load_job(path).model_dump() == job.model_dump()


def test_toml_local_time_is_accepted(tmp_path: Path) -> None:
    job = load_job(_job_file(tmp_path, MINIMAL.replace('"02:30"', "02:30:00")))
    assert job.run_at == "02:30"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (MINIMAL + "keep_masers = 3\n", ["keep_masers", "不认识的键"]),
        (MINIMAL.replace('"02:30"', '"25:00"'), ["run_at", "每日运行时间", "HH:MM", "25:00"]),
        (MINIMAL.replace('"02:30"', "02:30:15"), ["run_at", "分钟"]),
        (MINIMAL + "keep_masters = 0\n", ["keep_masters", "不小于 1"]),
        (MINIMAL + 'keep_masters = "七"\n', ["keep_masters", "整数"]),
        (MINIMAL + "settle_seconds = -1\n", ["settle_seconds", "不小于 0"]),
        (MINIMAL + 'period = "weekly"\n', ["period", "quarterly", "weekly"]),
        (MINIMAL.replace('name = "夜间汇总"\n', ""), ["name", "缺少此项"]),
        (MINIMAL.replace("guangzhou-2013", "shenzhen-2020"), ["profile", "shenzhen-2020", "guangzhou-2013"]),
        (MINIMAL + 'submitters = ["越秀区", "朝阳区"]\n', ["submitters", "朝阳区"]),
        (MINIMAL + 'submitters = "越秀区"\n', ["submitters", "列表"]),
        (MINIMAL + 'google = { sheet = "x" }\n', ["google", "不认识的键"]),
    ],
)
def test_invalid_job_files_say_which_key_and_what_is_wrong(
    tmp_path: Path, change: str, expected: list[str]
) -> None:
    with pytest.raises(JobFileError) as caught:
        load_job(_job_file(tmp_path, change))
    message = str(caught.value)
    assert "作业文件" in message
    for part in expected:
        assert part in message


def test_unreadable_job_files(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match="找不到作业文件"):
        load_job(tmp_path / "nope.toml")
    with pytest.raises(JobFileError, match="单引号"):
        load_job(_job_file(tmp_path, MINIMAL.replace('".."', '"D:\\共享盘"')))
    with pytest.raises(JobFileError, match="不是有效的 TOML"):
        load_job(_job_file(tmp_path, "name = \n"))


def test_windows_style_single_quoted_path_and_bom(tmp_path: Path) -> None:
    path = _job_file(tmp_path, MINIMAL.replace('".."', "'..'"))
    path.write_bytes("\ufeff".encode() + path.read_bytes())  # Notepad's UTF-8 with BOM
    assert load_job(path).drive == tmp_path / "drive"


def test_write_job_round_trips_and_stays_portable(tmp_path: Path) -> None:
    root = tmp_path / "drive"
    config = JobConfig(name="新共享盘", drive=root, profile="guangzhou-2013", run_at="03:15", keep_masters=3)
    path = write_job(root / "sync_jobs" / "job.toml", config)
    text = path.read_text(encoding="utf-8")
    assert 'drive = ".."' in text
    assert "# register_url" in text and "# master_path" in text and "# submitters" in text
    assert load_job(path).model_dump() == config.model_dump()

    # the drive and its job file move together: the copy still points at its own drive
    moved = tmp_path / "elsewhere"
    (root).rename(moved)
    assert load_job(moved / "sync_jobs" / "job.toml").drive == moved


def test_write_job_keeps_non_default_choices(tmp_path: Path) -> None:
    root = tmp_path / "drive"
    config = JobConfig(
        name="部分单位",
        drive=root,
        profile="beijing-2014",
        run_at="23:00",
        submitters=("东城区",),
        period="monthly",
        master_path=tmp_path / "drive" / "master" / "北京总台账.xlsx",
        settle_seconds=2.5,
    )
    reread = load_job(write_job(root / "sync_jobs" / "job.toml", config))
    assert reread.model_dump() == config.model_dump()
    assert reread.submitters == ("东城区",)
    assert reread.period == "monthly"
