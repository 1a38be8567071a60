from __future__ import annotations

from datetime import datetime

from sheetsync.profile import load_profile
from sheetsync.status import missing_submitters, period_status, submission_period

PROFILE = load_profile("guangzhou-2013")


def sub(
    submitter: str, status: str, received: datetime, period: str | None = None, name: str = "a.xlsx"
) -> dict:
    return {
        "submitter": submitter,
        "status": status,
        "received_at": received,
        "period": period,
        "file_name": name,
    }


def test_period_comes_from_the_stamp_or_the_arrival() -> None:
    assert (
        submission_period(sub("越秀区", "accepted", datetime(2014, 12, 2), "2014-11"), "monthly") == "2014-11"
    )
    assert submission_period(sub("越秀区", "accepted", datetime(2014, 12, 2)), "monthly") == "2014-12"
    assert submission_period(sub("越秀区", "accepted", datetime(2014, 12, 2)), "quarterly") == "2014-Q4"


def test_only_files_that_got_rows_in_count() -> None:
    submissions = [
        sub("越秀区", "accepted", datetime(2014, 11, 20), "2014-11"),
        sub("海珠区", "partly-accepted", datetime(2014, 11, 21), "2014-11"),
        sub("荔湾区", "rejected", datetime(2014, 11, 22), "2014-11"),
        sub("天河区", "unreadable", datetime(2014, 11, 23)),
        sub("白云区", "accepted", datetime(2014, 10, 23), "2014-10"),
    ]
    missing = missing_submitters(submissions, PROFILE, "2014-11")
    assert "越秀区" not in missing and "海珠区" not in missing
    assert {"荔湾区", "天河区", "白云区", "市经贸委"} <= set(missing)
    assert missing == [s.name for s in PROFILE.submitters if s.name in missing]  # profile order
    lines = {line.submitter: line for line in period_status(submissions, PROFILE, "2014-11")}
    assert lines["荔湾区"].files == 1 and not lines["荔湾区"].reported
    assert lines["白云区"].files == 0 and lines["白云区"].last_file is None
