"""Seeded, realistic drives for the benchmark (issue #7, item 1).

``python benchmarks/make_corpus.py city`` lays out ``benchmarks/corpora/city/``::

    sheetsync.toml          profile = "<abs path>/profile.toml"
    profile.toml            a generated rule profile naming every submitter of the corpus
    inbox/<submitter>/…xlsx one workbook per submitter, as the template shapes it
    changes/<submitter>/…   the one workbook of the rerun benchmark, revised (same name)
    corpus.json             the manifest: files, rows per sheet, planted bad cells per code

Sizes (workbooks, data rows in all): ``tiny`` 3 × ~50, ``city`` 18 / ~20k, ``province``
300 / ~300k, ``national`` 1,000 / ~1M.  Each field workbook holds mostly 企业名录 (34%),
审核进度 (30%), 技改项目 (16%), 培训活动 (2%) and 参训人员 (18%) rows; the office's workbook
holds 专家库, 咨询机构 and 年度目标.  Credit codes carry a valid GB 32100-2015 check
character and are unique across the corpus; project and training numbers carry their
submitter's prefix.  Cells are typed the way the demo's :class:`~sheetsync.demo.Dresser`
types them (dates as text or serials, full-width digits, thousands separators, stray spaces).

About 1% of the filled data cells are then broken, round-robin over every row-level error
kind the validator reports (:data:`ERROR_KINDS`), each in a row nothing else refers to, so
a bad cell costs its own row only; two workbooks also carry a header warning
(``unknown-header``, ``missing-optional-header``).  Everything is drawn from
``random.Random(f"{seed}:{workbook}")``, so a corpus is the same whatever the number of
worker processes; file modification times are set in workbook order so the inbox lists in
the same order every time.

Workbooks are written with XlsxWriter directly (header row as the template marks it, a very
hidden 填报信息 stamp), in its default mode: strings go to the shared-strings table as Excel
and WPS save them (constant-memory mode would write inline strings, which no submitter's file
has, and is slower here).  The template's 填报说明/选项 helper sheets and its data validations
are left out: the reader passes over them anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import xlsxwriter

from sheetsync import demo
from sheetsync.errors import CATALOGUE
from sheetsync.profile import load_profile
from sheetsync.schemas import (
    SHEETS_BY_NAME,
    Attendee,
    Audit,
    ConsultingAgency,
    Enterprise,
    Expert,
    Project,
    SubmitterKind,
    Target,
    Training,
    sheets_for,
)
from sheetsync.schemas.audit import (
    ACCEPTANCE_PASSED,
    AUDIT_FULL,
    AUDIT_ONSITE,
    CERT_EXCELLENT,
    CERT_PARTICIPATION,
)
from sheetsync.schemas.enterprise import AUDIT_MANDATORY, AUDIT_VOLUNTARY, NO_KEY_INDUSTRY
from sheetsync.schemas.stamp import STAMP_LABELS, STAMP_SHEET, TEMPLATE_VERSION, period_of
from sheetsync.schemas.target import CITY_WIDE
from sheetsync.schemas.training import NO, YES
from sheetsync.uscc import check_character

HERE = Path(__file__).resolve().parent
CORPORA = HERE / "corpora"
MANIFEST = "corpus.json"
PROFILE_FILE = "profile.toml"
CHANGES = "changes"
DEFAULT_SEED = 2013
AS_OF = date(2014, 11, 30)
PROGRAMME_START = date(2013, 6, 1)
TARGET_YEAR = 2014
MTIME_BASE = 1_417_300_000  # 2014-11-30: files are listed oldest first, in workbook order
BAD_SHARE = 0.01  # of the filled data cells

Row = dict[str, Any]


@dataclass(frozen=True)
class Size:
    name: str
    workbooks: int
    rows: int  # data rows in all, about


SIZES: dict[str, Size] = {
    size.name: size
    for size in (
        Size("tiny", 3, 150),
        Size("city", 18, 20_000),
        Size("province", 300, 300_000),
        Size("national", 1_000, 1_000_000),
    )
}

# Share of a field workbook's rows per sheet; 参训人员 takes the rest.
SHARES = {Enterprise: 0.34, Audit: 0.30, Project: 0.16, Training: 0.02}
BARE_SHARE = 0.35  # enterprises nothing refers to: safe to break
LISTED_TRAINING_SHARE = 0.7  # trainings with an attendee list (the others are safe to break)

ERROR_KINDS: tuple[str, ...] = (
    "required",
    "required-when",
    "not-a-date",
    "not-a-number",
    "not-an-integer",
    "out-of-range",
    "not-in-choices",
    "not-a-phone",
    "too-long",
    "excel-error",
    "uscc-format",
    "uscc-checksum",
    "date-order",
    "amount-exceeds",
    "duplicate-key",
    "unknown-reference",
    *(("not-owner",) if "not-owner" in CATALOGUE else ()),  # submitter isolation, where the product has it
)
FILE_WARNINGS = ("unknown-header", "missing-optional-header")

AGENCY_DEPARTMENTS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("城乡建委", ("建筑施工",), False),
    ("交委", ("交通运输",), False),
    ("农业局", ("农业生产",), False),
    ("旅游局", ("星级酒店",), False),
    ("环保局", (), True),
)
PLACE_SUFFIXES = ("区", "县", "市", "区", "区")


# ---------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class SubmitterPlan:
    index: int
    name: str
    kind: str  # SubmitterKind value
    sector: tuple[str, ...]
    mandatory: bool
    division: str  # six digits: every credit code of this workbook starts 91 + division
    prefix: str  # of its project and training numbers
    rows: int  # data rows to write, about
    file_name: str


@dataclass(frozen=True)
class CorpusPlan:
    size: str
    seed: int
    root: str
    as_of: date
    period: str
    profile_name: str
    region: str  # what firm names start with
    bad_share: float
    submitters: tuple[SubmitterPlan, ...]
    consultants: tuple[tuple[str, ...], ...]  # name, uscc, contact, phone, status
    changed: int  # index of the workbook the rerun benchmark revises
    warnings: tuple[tuple[int, str], ...]  # (workbook index, file-level warning code)

    @property
    def districts(self) -> list[str]:
        return [s.name for s in self.submitters if s.kind == SubmitterKind.DISTRICT]


def _stable_rng(*parts: object) -> random.Random:
    return random.Random(":".join(str(part) for part in parts))


def plan_corpus(
    size: Size, root: Path, *, seed: int = DEFAULT_SEED, bad_share: float = BAD_SHARE
) -> CorpusPlan:
    rng = _stable_rng(seed, "plan", size.name)
    period = period_of(AS_OF)
    people = _People(rng)
    if size.name == "city":
        gz = load_profile(demo.PROFILE_NAME)
        raw = [(name, SubmitterKind.DISTRICT, (), False, demo.DIVISION_CODES[name]) for name in gz.districts]
        raw += [
            (a.name, SubmitterKind.AGENCY, a.sector, a.mandatory, f"4401{90 + i:02d}")
            for i, a in enumerate(gz.agencies)
        ]
        raw.append((gz.office, SubmitterKind.OFFICE, (), False, demo.CITY_DIVISION))
        prefixes = [demo.PREFIXES[name] for name, *_ in raw]
        region = "广州市"
    else:
        raw = _synthetic_submitters(size.workbooks, rng)
        prefixes = [f"S{i:04d}" for i in range(len(raw))]
        region = "某省" if size.name != "national" else "全国"
    # row budgets: the office holds its own sheets; field workbooks share the rest unevenly
    office_rows = _office_rows(size, sum(1 for r in raw if r[1] == SubmitterKind.DISTRICT))
    field = [i for i, r in enumerate(raw) if r[1] != SubmitterKind.OFFICE]
    weights = {i: rng.uniform(0.5, 1.5) * (0.6 if raw[i][1] == SubmitterKind.AGENCY else 1.0) for i in field}
    left = max(len(field) * 12, size.rows - office_rows)
    total_weight = sum(weights.values())
    submitters = []
    for i, (name, kind, sector, mandatory, division) in enumerate(raw):
        rows = (
            office_rows if kind == SubmitterKind.OFFICE else max(12, round(left * weights[i] / total_weight))
        )
        submitters.append(
            SubmitterPlan(
                index=i,
                name=name,
                kind=kind.value,
                sector=tuple(sector),
                mandatory=mandatory,
                division=division,
                prefix=prefixes[i],
                rows=rows,
                file_name=f"{name}_{period}_清洁生产工作台账.xlsx",
            )
        )
    consultants = []
    codes = _Codes(rng)
    count = {"tiny": 6, "city": 12, "province": 60}.get(size.name, 200)
    names: set[str] = set()
    while len(consultants) < count:
        name = rng.choice(demo.CONSULTANT_PATTERNS).format(
            brand=people.brand() + rng.choice(demo.BRAND_CHARS)
        )
        if name in names:
            continue
        names.add(name)
        status = "在册" if rng.random() < 0.85 else rng.choice(("暂停", "退出"))
        consultants.append((name, codes.new("990100"), people.person(), people.landline(), status))
    districts = [s.index for s in submitters if s.kind == SubmitterKind.DISTRICT]
    changed = districts[len(districts) // 2]
    warnings: list[tuple[int, str]] = []
    if len(field) >= 3:
        warnings = [(field[1], "unknown-header"), (field[2], "missing-optional-header")]
    return CorpusPlan(
        size=size.name,
        seed=seed,
        root=str(root.resolve()),
        as_of=AS_OF,
        period=period,
        profile_name=f"bench-{size.name}",
        region=region,
        bad_share=bad_share,
        submitters=tuple(submitters),
        consultants=tuple(consultants),
        changed=changed,
        warnings=tuple(warnings),
    )


def _office_rows(size: Size, districts: int) -> int:
    experts = {"tiny": 12, "city": 60, "province": 300}.get(size.name, 800)
    return experts + 4 * districts + 4  # + consultants, written on top


def _synthetic_submitters(count: int, rng: random.Random) -> list[tuple[Any, ...]]:
    """An office, one agency per fifteen workbooks, districts for the rest; unique names."""
    agencies = max(1, count // 15)
    districts = count - 1 - agencies
    names: set[str] = set()

    def place(suffix: str) -> str:
        while True:
            first, second = rng.sample(demo.BRAND_CHARS, 2)
            name = f"{first}{second}{suffix}"
            if name not in names:
                names.add(name)
                return name

    raw: list[tuple[Any, ...]] = []
    for i in range(districts):
        division = f"{11 + i // 100:02d}{(i // 10) % 10 + 1:02d}{i % 10 + 1:02d}"
        raw.append(
            (place(PLACE_SUFFIXES[i % len(PLACE_SUFFIXES)]), SubmitterKind.DISTRICT, (), False, division)
        )
    for j in range(agencies):
        department, sector, mandatory = AGENCY_DEPARTMENTS[j % len(AGENCY_DEPARTMENTS)]
        city = place("市")
        raw.append(
            (f"{city}{department}", SubmitterKind.AGENCY, sector, mandatory, f"98{j // 100:02d}{j % 100:02d}")
        )
    raw.append(("省清洁生产工作组办公室", SubmitterKind.OFFICE, (), False, "990000"))
    return raw


# ---------------------------------------------------------------------------- small drawers


class _People:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def person(self) -> str:
        return self.rng.choice(demo.SURNAMES) + self.rng.choice(demo.GIVEN_NAMES)

    def brand(self) -> str:
        first, second = self.rng.sample(demo.BRAND_CHARS, 2)
        return first + second

    def landline(self) -> str:
        return f"0{self.rng.randint(20, 999)}-{self.rng.randint(2000000, 89999999)}"

    def mobile(self) -> str:
        return demo.mobile_number(self.rng)

    def phone(self) -> Any:
        return demo.phone_number(self.rng, self.landline)


class _Codes:
    """Credit codes with a valid check character, unique within a division (hence the corpus)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[str] = set()

    def new(self, division: str, org_type: str = "91") -> str:
        while True:
            rng = self.rng
            body = demo.new_style_code(rng) if rng.random() < 0.12 else demo.organisation_code(rng)
            first17 = (org_type + division + body)[:17]
            code = first17 + check_character(first17)
            if code not in self.seen:
                self.seen.add(code)
                return code


def _between(rng: random.Random, start: date, end: date) -> date:
    if end <= start:
        return start
    return start + timedelta(days=rng.randint(0, (end - start).days))


# ---------------------------------------------------------------------------- one workbook


@dataclass
class Workbook:
    """The rows of one workbook as typed, and what was planted in them."""

    rows: dict[str, list[Row]]
    planted: Counter[str]
    extra_columns: dict[str, tuple[str, list[str]]]  # sheet → (unknown header, its values)
    dropped_columns: dict[str, str]  # sheet → field left out
    edits: dict[str, int]


class _Maker:
    def __init__(self, plan: CorpusPlan, sub: SubmitterPlan) -> None:
        self.plan = plan
        self.sub = sub
        self.rng = _stable_rng(plan.seed, plan.size, sub.index)
        self.people = _People(self.rng)
        self.codes = _Codes(self.rng)
        self.as_of = plan.as_of
        self.active_consultants = [c[0] for c in plan.consultants if c[4] == "在册"]

    # -------------------------------------------------------------- firms

    def firm(self) -> Row:
        rng = self.rng
        sub = self.sub
        if sub.sector:
            category = sub.sector[0]
        elif sub.mandatory:
            category = "规模以上工业"
        else:
            category = demo.weighted(rng, demo.INDUSTRIAL_MIX if rng.random() < 0.6 else demo.CENTRAL_MIX)
        if category == "规模以上工业":
            trade = demo.weighted(rng, demo.INDUSTRY_TRADES)
        else:
            trade = rng.choice(demo.SECTOR_TRADES[category])
        brand = self.people.brand()
        name = rng.choice(
            (
                f"{self.plan.region}{brand}{trade.word}有限公司",
                f"{brand}{trade.word}股份有限公司",
                f"{brand}{trade.word}({sub.name})有限公司",
            )
        )
        mandatory = sub.mandatory or (
            category == "规模以上工业" and trade.key_industry != NO_KEY_INDUSTRY and rng.random() < 0.4
        )
        listed = _between(rng, date(2013, 7, 15), self.as_of - timedelta(days=60)) if mandatory else None
        district = sub.name if sub.kind == SubmitterKind.DISTRICT else rng.choice(self.plan.districts)
        return {
            "uscc": self.codes.new(self.sub.division, demo.ORG_TYPE.get(category, "91")),
            "name": name,
            "district": district,
            "park": f"{brand[0]}{trade.word[:1]}工业园" if rng.random() < 0.2 else None,
            "industry_section": trade.section if rng.random() < 0.9 else trade.section.split(" ", 1)[0],
            "industry_code": trade.code if rng.random() < 0.8 else None,
            "category": category,
            "key_industry": trade.key_industry if category == "规模以上工业" else None,
            "audit_type": AUDIT_MANDATORY if mandatory else AUDIT_VOLUNTARY,
            "mandatory_listed_on": listed,
            "mandatory_reason": ("重点行业" if trade.key_industry != NO_KEY_INDUSTRY else "超标排放")
            if mandatory
            else None,
            "head_name": self.people.person(),
            "contact": self.people.person(),
            "phone": self.people.phone(),
            "remark": rng.choice(("2014年新增", "原名称已变更", "已搬迁至园区"))
            if rng.random() < 0.05
            else None,
        }

    # -------------------------------------------------------------- audits and projects

    def audit(self, firm: Row, round_no: int) -> Row:
        rng = self.rng
        method = AUDIT_FULL if firm["audit_type"] == AUDIT_MANDATORY or rng.random() < 0.5 else AUDIT_ONSITE
        earliest = firm["mandatory_listed_on"] or PROGRAMME_START
        started = _between(rng, earliest + timedelta(days=15), self.as_of - timedelta(days=10))
        row: Row = {
            "uscc": firm["uscc"],
            "round": round_no,
            "method": method,
            "agency": rng.choice(self.active_consultants) if rng.random() < 0.92 else None,
            "started_on": started,
        }
        contract = started + timedelta(days=rng.randint(3, 25))
        if contract <= self.as_of:
            row["contract_filed_on"] = contract
        report = started + timedelta(
            days=rng.randint(50, 130) if method == AUDIT_ONSITE else rng.randint(120, 300)
        )
        if report > self.as_of or report < contract:
            return row
        row["report_on"] = report
        evaluated = report + timedelta(days=rng.randint(15, 60))
        if evaluated > self.as_of:
            return row
        grade = demo.weighted(rng, (("优秀", 15), ("良好", 40), ("合格", 40), ("不合格", 5)))
        row.update(evaluated_on=evaluated, grade=grade)
        if grade == "不合格":
            row["remark"] = "报告需修改后重新评估"
            return row
        if method == AUDIT_ONSITE:
            certified = evaluated + timedelta(days=rng.randint(10, 40))
            if certified <= self.as_of:
                row.update(certificate=CERT_PARTICIPATION, certified_on=certified)
            return row
        accepted = evaluated + timedelta(days=rng.randint(60, 200))
        if accepted > self.as_of:
            return row
        acceptance = demo.weighted(rng, ((ACCEPTANCE_PASSED, 80), ("限期整改", 15), ("不通过", 5)))
        row.update(accepted_on=accepted, acceptance=acceptance)
        if acceptance != ACCEPTANCE_PASSED:
            return row
        certified = accepted + timedelta(days=rng.randint(10, 40))
        if certified <= self.as_of:
            row.update(
                certificate=CERT_EXCELLENT, certified_on=certified, valid_until=demo.add_years(certified, 2)
            )
        return row

    def project(self, firm: Row, number: int) -> Row:
        rng = self.rng
        if firm["category"] in demo.SECTOR_PROJECTS:
            category, name = rng.choice(demo.SECTOR_PROJECTS[firm["category"]])
        else:
            category = rng.choice(tuple(demo.PROJECT_NAMES))
            name = rng.choice(demo.PROJECT_NAMES[category])
        cheap = rng.random() < 0.35
        investment = round(rng.uniform(0.5, 30), 2) if cheap else round(rng.uniform(30, 1500), 2)
        declared = _between(rng, PROGRAMME_START + timedelta(days=60), self.as_of)
        row: Row = {
            "project_id": f"{self.sub.prefix}-{declared.year}-{number:05d}",
            "uscc": firm["uscc"],
            "name": name,
            "category": category,
            "option_type": "无低费" if cheap else "中高费",
            "investment": investment,
            "status": "申报",
        }
        row.update(self._savings(category, investment))
        if not cheap:
            row["subsidy_requested"] = round(investment * rng.uniform(0.1, 0.3), 2)
        started = declared + timedelta(days=rng.randint(10, 90))
        if started > self.as_of:
            return row
        row.update(started_on=started, status="实施中")
        if not cheap and rng.random() < 0.85:
            approved = round(row["subsidy_requested"] * rng.choice((1, 1, 0.9, 0.8)), 2)
            row["subsidy_approved"] = approved
            first_on = started + timedelta(days=rng.randint(15, 60))
            if first_on <= self.as_of:
                row.update(first_paid_on=first_on, first_paid=round(approved * 0.7, 2))
        finished = started + timedelta(days=rng.randint(20, 60) if cheap else rng.randint(60, 330))
        if finished > self.as_of:
            return row
        row.update(finished_on=finished, status="已完工")
        accepted = finished + timedelta(days=rng.randint(30, 120))
        if accepted > self.as_of:
            return row
        row.update(performance_accepted_on=accepted, status="已验收")
        if row.get("first_paid") is not None:
            second_on = max(accepted, row["first_paid_on"]) + timedelta(days=rng.randint(15, 60))
            if second_on <= self.as_of:
                row.update(
                    second_paid_on=second_on,
                    second_paid=round(row["subsidy_approved"] - row["first_paid"], 2),
                )
        return row

    def _savings(self, category: str, investment: float) -> Row:
        rng = self.rng
        out: Row = {}
        if category in demo.ENERGY_CATEGORIES:
            tce = round(investment * rng.uniform(0.3, 2.5), 1)
            out.update(energy_saved_tce=tce, co2_cut_t=round(tce * rng.uniform(2.4, 2.6), 1))
        if category in ("节水", "减污"):
            out["water_saved_t"] = round(investment * rng.uniform(20, 200))
            out["cod_cut_t"] = round(rng.uniform(0.1, 20), 2)
        if category in ("清洁能源替代", "减污"):
            out["so2_cut_t"] = round(rng.uniform(0.1, 30), 2)
        return out

    # -------------------------------------------------------------- training

    def training(self, number: int) -> Row:
        rng = self.rng
        kind = demo.weighted(rng, (("认知推广", 40), ("专题培训", 35), ("现场会", 12), ("经验交流", 13)))
        return {
            "training_id": f"{self.sub.prefix}-PX{number:04d}",
            "held_on": _between(rng, PROGRAMME_START + timedelta(days=30), self.as_of),
            "topic": rng.choice(demo.TOPICS[kind]),
            "training_type": kind,
            "organiser": f"{self.sub.name}经信局" if rng.random() < 0.7 else demo.ASSOCIATION,
            "attendance": rng.randint(30, 260),
        }

    # -------------------------------------------------------------- the whole workbook

    def field_rows(self) -> tuple[dict[str, list[Row]], dict[str, list[int]]]:
        """Rows per sheet, and per pool the positions that may be broken without a cascade."""
        rng = self.rng
        n = self.sub.rows
        counts = {model: max(1, round(n * share)) for model, share in SHARES.items()}
        counts[Enterprise] = max(4, counts[Enterprise])
        attendees = max(1, n - sum(counts.values()))
        firms = [self.firm() for _ in range(counts[Enterprise])]
        bare_count = max(1, round(len(firms) * BARE_SHARE))
        active = firms[: len(firms) - bare_count]
        audits = [self.audit(active[i % len(active)], i // len(active) + 1) for i in range(counts[Audit])]
        projects = [self.project(rng.choice(active), i + 1) for i in range(counts[Project])]
        trainings = [self.training(i + 1) for i in range(counts[Training])]
        listed = max(1, round(len(trainings) * LISTED_TRAINING_SHARE))
        people: list[Row] = []
        seen: set[tuple[str, str, str]] = set()
        for j in range(attendees):
            training = trainings[j % listed]
            for _ in range(5):
                firm = rng.choice(active)
                head = rng.random() < 0.3
                name = firm["head_name"] if head else self.people.person()
                key = (training["training_id"], firm["uscc"], name)
                if key not in seen:
                    seen.add(key)
                    people.append(
                        {
                            "training_id": key[0],
                            "uscc": key[1],
                            "name": name,
                            "title": rng.choice(demo.DEFAULT_HEAD_TITLES if head else demo.STAFF_TITLES),
                            "is_head": YES if head else (NO if rng.random() < 0.9 else None),
                        }
                    )
                    break
        for training in trainings[:listed]:
            training["attendance"] = max(training["attendance"], 1)
        rows = {
            Enterprise.sheet_name: firms,
            Audit.sheet_name: audits,
            Project.sheet_name: projects,
            Training.sheet_name: trainings,
            Attendee.sheet_name: people,
        }
        pools = {
            "enterprise": list(range(len(active), len(firms))),
            "audit": list(range(len(audits))),
            "project": list(range(len(projects))),
            "training": list(range(listed, len(trainings))),
            "attendee": list(range(len(people))),
        }
        return rows, pools

    def office_rows(self) -> dict[str, list[Row]]:
        rng = self.rng
        plan = self.plan
        consultants = [
            {"name": c[0], "uscc": c[1], "contact": c[2], "phone": c[3], "status": c[4]}
            for c in plan.consultants
        ]
        experts = []
        experts_wanted = self.sub.rows - 4 * len(plan.districts) - 4
        for number in range(1, max(6, experts_wanted) + 1):
            employer, district = rng.choice(demo.EXPERT_EMPLOYERS)
            if rng.random() < 0.25:
                employer = rng.choice(consultants)["name"]
            sections = sorted(
                {demo.weighted(rng, demo.EXPERT_SECTIONS) for _ in range(rng.choice((1, 2, 3)))}
            )
            specialties = sorted(
                {demo.weighted(rng, demo.SPECIALTY_WEIGHTS) for _ in range(rng.choice((1, 2, 3)))}
            )
            experts.append(
                {
                    "expert_id": f"ZJ{number:04d}",
                    "name": self.people.person(),
                    "employer": employer,
                    "district": district if rng.random() < 0.8 else None,
                    "industry_fields": "、".join(sections),
                    "specialties": "、".join(specialties),
                    "title": rng.choice(demo.EXPERT_TITLES),
                    "related": rng.choice(consultants)["name"] if rng.random() < 0.2 else None,
                    "status": demo.weighted(rng, (("在库", 85), ("暂停", 10), ("退出", 5))),
                    "phone": self.people.mobile(),
                }
            )
        targets = []
        metrics = ("覆盖企业数", "启动审核企业数", "技改项目数", "培训人次")
        by_district = {s.name: s.rows for s in plan.submitters}
        for district in plan.districts:
            rows = by_district[district]
            values = (rows * 0.34, rows * 0.2, rows * 0.16, rows * 0.4)
            for metric, base in zip(metrics, values, strict=True):
                value = max(1, round(base * rng.uniform(1.0, 1.35)))
                targets.append({"year": TARGET_YEAR, "district": district, "metric": metric, "value": value})
        for metric in metrics:
            total = sum(row["value"] for row in targets if row["metric"] == metric)
            targets.append({"year": TARGET_YEAR, "district": CITY_WIDE, "metric": metric, "value": total})
        return {
            Expert.sheet_name: experts,
            ConsultingAgency.sheet_name: consultants,
            Target.sheet_name: targets,
        }

    def build(self, *, changed: bool = False) -> Workbook:
        sub = self.sub
        if sub.kind == SubmitterKind.OFFICE:
            rows = self.office_rows()
            planted: Counter[str] = Counter()
            broken: dict[str, set[int]] = {}
        else:
            rows, pools = self.field_rows()
            planted, broken = _Planter(self, rows, pools).plant()
        dresser = demo.Dresser(self.rng, self.rng.uniform(0.1, 0.6))
        rows = {
            sheet: [dresser.row(SHEETS_BY_NAME[sheet], row) for row in items] for sheet, items in rows.items()
        }
        extra: dict[str, tuple[str, list[str]]] = {}
        dropped: dict[str, str] = {}
        for index, code in self.plan.warnings:
            if index != sub.index:
                continue
            if code == "unknown-header":
                firms = rows[Enterprise.sheet_name]
                extra[Enterprise.sheet_name] = ("填表人", [self.people.person() for _ in firms])
            elif code == "missing-optional-header":
                dropped[Audit.sheet_name] = "remark"
            planted[code] += 1
        edits = _revise(self, rows, broken) if changed else {}
        return Workbook(rows, planted, extra, dropped, edits)


class _Planter:
    """Breaks about ``bad_share`` of the filled cells, one per row, round-robin over the kinds."""

    def __init__(self, maker: _Maker, rows: dict[str, list[Row]], pools: dict[str, list[int]]) -> None:
        self.m = maker
        self.rng = maker.rng
        self.rows = rows
        self.pools = {name: list(positions) for name, positions in pools.items()}
        for positions in self.pools.values():
            self.rng.shuffle(positions)
        self.broken: dict[str, set[int]] = {sheet: set() for sheet in rows}

    SHEET_OF = {
        "enterprise": Enterprise.sheet_name,
        "audit": Audit.sheet_name,
        "project": Project.sheet_name,
        "training": Training.sheet_name,
        "attendee": Attendee.sheet_name,
    }

    def take(self, pool: str, accept: Callable[[Row], bool] = lambda row: True) -> Row | None:
        """A row of ``pool`` not broken yet that ``accept`` likes (a few tries, then give up)."""
        positions = self.pools[pool]
        sheet = self.SHEET_OF[pool]
        for _ in range(min(8, len(positions))):
            at = self.rng.randrange(len(positions))
            position = positions[at]
            row = self.rows[sheet][position]
            if accept(row):
                positions[at] = positions[-1]
                positions.pop()
                self.broken[sheet].add(position)
                return row
        return None

    def duplicate(self, sheet: str, row: Row) -> None:
        """The same record typed twice: the copy is the bad row."""
        self.broken[sheet].add(len(self.rows[sheet]))
        self.rows[sheet].append(dict(row))

    def plant(self) -> tuple[Counter[str], dict[str, set[int]]]:
        filled = sum(
            1 for items in self.rows.values() for row in items for v in row.values() if v is not None
        )
        wanted = round(filled * self.m.plan.bad_share)
        planted: Counter[str] = Counter()
        misses = 0
        turn = self.m.sub.index * 5  # small workbooks start at different kinds
        while sum(planted.values()) < wanted and misses < len(ERROR_KINDS) * 3:
            kind = ERROR_KINDS[turn % len(ERROR_KINDS)]
            turn += 1
            if self.break_one(kind):
                planted[kind] += 1
                misses = 0
            else:
                misses += 1
        return planted, self.broken

    def break_one(self, kind: str) -> bool:
        ways = list(self.ways(kind))
        self.rng.shuffle(ways)
        for pool, accept, change in ways:
            row = self.take(pool, accept)
            if row is not None:
                change(row)
                return True
        return False

    def ways(self, kind: str) -> list[tuple[str, Callable[[Row], bool], Callable[[Row], None]]]:
        rng = self.rng
        anything: Callable[[Row], bool] = lambda row: True  # noqa: E731

        def has(*names: str) -> Callable[[Row], bool]:
            return lambda row: all(row.get(name) is not None for name in names)

        def setter(**values: Any) -> Callable[[Row], None]:
            return lambda row: row.update(values)

        match kind:
            case "required":
                return [
                    ("audit", anything, setter(method=None)),
                    ("project", anything, setter(name=None)),
                    ("enterprise", anything, setter(name=None)),
                    ("attendee", anything, setter(name=None)),
                ]
            case "required-when":
                return [
                    (
                        "enterprise",
                        has("uscc"),
                        setter(
                            audit_type=AUDIT_MANDATORY, mandatory_listed_on=None, mandatory_reason="超标排放"
                        ),
                    ),
                    ("audit", has("grade", "evaluated_on"), setter(evaluated_on=None)),
                    ("project", has("first_paid", "first_paid_on"), setter(first_paid_on=None)),
                ]
            case "not-a-date":
                return [
                    (
                        "audit",
                        anything,
                        setter(started_on=rng.choice(("2014年13月5日", "下月启动", "2014-02-30"))),
                    ),
                    ("project", anything, setter(started_on=rng.choice(("待定", "2014.13.1")))),
                    ("training", anything, setter(held_on="待定")),
                ]
            case "not-a-number":
                return [
                    ("project", anything, setter(investment=rng.choice(("约50万", "三十", "50万元")))),
                    ("project", has("water_saved_t"), setter(water_saved_t="若干")),
                ]
            case "not-an-integer":
                return [
                    ("audit", anything, setter(round="1.5")),
                    ("training", anything, setter(attendance="45.5")),
                ]
            case "out-of-range":
                return [
                    ("project", anything, setter(investment=-round(rng.uniform(1, 50), 1))),
                    ("audit", anything, setter(round=0)),
                ]
            case "not-in-choices":
                return [
                    ("enterprise", anything, setter(category="工业企业")),
                    ("audit", anything, setter(method="全面审查")),
                    ("project", anything, setter(category="节电改造")),
                ]
            case "not-a-phone":
                return [("enterprise", anything, setter(phone=rng.choice(("无", "见备注", "暂缺"))))]
            case "too-long":
                return [
                    ("enterprise", has("name"), lambda row: row.update(name=_too_long(row["name"]))),
                    ("project", has("name"), lambda row: row.update(name=_too_long(row["name"]))),
                ]
            case "excel-error":
                return [
                    ("project", anything, setter(co2_cut_t=rng.choice(("#DIV/0!", "#VALUE!")))),
                    ("audit", anything, setter(agency="#N/A")),
                ]
            case "uscc-format":
                return [
                    ("audit", anything, lambda row: row.update(uscc=demo.format_typo(row["uscc"], rng))),
                    ("project", anything, lambda row: row.update(uscc=demo.format_typo(row["uscc"], rng))),
                ]
            case "uscc-checksum":
                return [
                    ("audit", anything, lambda row: row.update(uscc=demo.checksum_typo(row["uscc"], rng))),
                    ("attendee", anything, lambda row: row.update(uscc=demo.checksum_typo(row["uscc"], rng))),
                ]
            case "date-order":
                return [
                    (
                        "audit",
                        has("started_on", "report_on"),
                        lambda row: row.update(started_on=row["report_on"] + timedelta(days=1)),
                    ),
                    (
                        "project",
                        has("started_on", "finished_on"),
                        lambda row: row.update(
                            finished_on=row["started_on"] - timedelta(days=rng.randint(1, 30))
                        ),
                    ),
                ]
            case "amount-exceeds":
                return [
                    (
                        "project",
                        has("subsidy_approved"),
                        lambda row: row.update(subsidy_approved=round(row["investment"] * 1.2 + 1, 2)),
                    ),
                ]
            case "duplicate-key":
                return [
                    ("audit", anything, lambda row: self.duplicate(Audit.sheet_name, row)),
                    ("project", anything, lambda row: self.duplicate(Project.sheet_name, row)),
                ]
            case "unknown-reference":
                return [
                    ("audit", anything, lambda row: row.update(uscc=self.m.codes.new("000000"))),
                    ("attendee", anything, setter(training_id=f"{self.m.sub.prefix}-PX9999")),
                ]
            case "not-owner":
                return [("enterprise", anything, self.foreign())]
        raise AssertionError(kind)

    def foreign(self) -> Callable[[Row], None]:
        """An enterprise row this submitter is not responsible for (another district, sector, list)."""
        sub = self.m.sub
        if sub.kind == SubmitterKind.DISTRICT:
            others = [name for name in self.m.plan.districts if name != sub.name] or ["市外"]
            return lambda row: row.update(district=self.rng.choice(others))
        if sub.sector:
            other = "餐饮" if "餐饮" not in sub.sector else "教育"
            return lambda row: row.update(category=other, key_industry=None)
        return lambda row: row.update(
            audit_type=AUDIT_VOLUNTARY, mandatory_listed_on=None, mandatory_reason=None
        )


def _too_long(text: str) -> str:
    """Pasted over and over: longer than any text column allows (500 characters)."""
    return text * (520 // len(text) + 1)


def _revise(maker: _Maker, rows: dict[str, list[Row]], broken: dict[str, set[int]]) -> dict[str, int]:
    """The rerun's one changed file: a few rows updated and a few firms added, nothing broken."""
    rng = _stable_rng(maker.plan.seed, maker.plan.size, maker.sub.index, "changed")
    audits = rows[Audit.sheet_name]
    projects = rows[Project.sheet_name]
    edits: Counter[str] = Counter()
    for sheet, items, field_name, value in (
        (Audit.sheet_name, audits, "remark", "已督促企业加快进度(2014-12)"),
        (Project.sheet_name, projects, "status", "已变更"),
    ):
        whole = [position for position in range(len(items)) if position not in broken.get(sheet, ())]
        for position in rng.sample(whole, min(len(whole), max(1, len(items) // 30))):
            items[position][field_name] = value
            edits[f"{sheet} rows updated"] += 1
    firms = rows[Enterprise.sheet_name]
    for _ in range(max(1, len(firms) // 100)):
        firms.append(maker.firm())
        edits[f"{Enterprise.sheet_name} rows added"] += 1
    return dict(edits)


# ---------------------------------------------------------------------------- writing


def write_workbook(path: Path, plan: CorpusPlan, sub: SubmitterPlan, book: Workbook) -> None:
    kind = SubmitterKind(sub.kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    xl = xlsxwriter.Workbook(
        str(path), {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    )
    xl.set_properties(
        {"title": sub.file_name, "created": datetime(2014, 11, 1, 9, 0)}
    )  # same bytes every build
    required_fmt = xl.add_format({"bold": True, "bg_color": "#F8CBAD", "border": 1})
    optional_fmt = xl.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    date_fmt = xl.add_format({"num_format": "yyyy-mm-dd"})
    epoch = demo.EXCEL_EPOCH.toordinal()
    for model in sheets_for(kind):
        sheet = xl.add_worksheet(model.sheet_name)
        names = [name for name in model.columns() if name != book.dropped_columns.get(model.sheet_name)]
        for col, name in enumerate(names):
            column = model.column(name)
            header = f"*{column.header}" if column.required else column.header
            sheet.write_string(0, col, header, required_fmt if column.required else optional_fmt)
        extra = book.extra_columns.get(model.sheet_name)
        if extra is not None:
            sheet.write_string(0, len(names), extra[0], optional_fmt)
        write_string, write_number = sheet.write_string, sheet.write_number
        for r, row in enumerate(book.rows.get(model.sheet_name, ()), start=1):
            for col, name in enumerate(names):
                value = row.get(name)
                if value is None:
                    continue
                if value.__class__ is str:
                    write_string(r, col, value)
                elif value.__class__ is date:
                    write_number(r, col, value.toordinal() - epoch, date_fmt)
                else:
                    write_number(r, col, value)
            if extra is not None:
                write_string(r, len(names), extra[1][r - 1] if r - 1 < len(extra[1]) else "")
        sheet.freeze_panes(1, 0)
    stamp = xl.add_worksheet(STAMP_SHEET)
    values = {
        "submitter": sub.name,
        "kind": kind.value,
        "period": plan.period,
        "template_version": TEMPLATE_VERSION,
        "profile": plan.profile_name,
        "generated_on": plan.as_of.replace(day=1).isoformat(),
    }
    for r, (label, field_name) in enumerate(STAMP_LABELS.items()):
        stamp.write_string(r, 0, label)
        stamp.write_string(r, 1, values[field_name])
    stamp.very_hidden()
    xl.close()


def inbox_path(plan: CorpusPlan, sub: SubmitterPlan) -> Path:
    return Path(plan.root) / "inbox" / sub.name / sub.file_name


def changed_path(plan: CorpusPlan, sub: SubmitterPlan) -> Path:
    return Path(plan.root) / CHANGES / sub.name / sub.file_name


def _build_one(args: tuple[CorpusPlan, int, bool]) -> dict[str, Any]:
    plan, index, changed = args
    sub = plan.submitters[index]
    book = _Maker(plan, sub).build(changed=changed)
    path = changed_path(plan, sub) if changed else inbox_path(plan, sub)
    write_workbook(path, plan, sub, book)
    when = MTIME_BASE + index + (10_000 if changed else 0)
    os.utime(path, (when, when))
    return {
        "index": index,
        "submitter": sub.name,
        "kind": sub.kind,
        "path": str(path.relative_to(plan.root)),
        "rows": {sheet: len(items) for sheet, items in book.rows.items()},
        "planted": dict(book.planted),
        "edits": book.edits,
        "bytes": path.stat().st_size,
    }


# ---------------------------------------------------------------------------- profile


def _toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def profile_toml(plan: CorpusPlan) -> str:
    """A profile naming the corpus's submitters, with the guangzhou-2013 deadlines and sectors."""
    office = next(s.name for s in plan.submitters if s.kind == SubmitterKind.OFFICE)
    lines = [
        f"# generated by benchmarks/make_corpus.py ({plan.size}, seed {plan.seed})",
        f"name = {_toml_str(plan.profile_name)}",
        f"title = {_toml_str(f'清洁生产基准测试语料({plan.size})')}",
        f"office = {_toml_str(office)}",
        'reporting = "monthly"',
        "districts = [" + ", ".join(_toml_str(name) for name in plan.districts) + "]",
        "",
    ]
    for sub in plan.submitters:
        if sub.kind != SubmitterKind.AGENCY:
            continue
        lines += ["[[agencies]]", f"name = {_toml_str(sub.name)}", 'kind = "agency"']
        if sub.sector:
            lines.append("sector = [" + ", ".join(_toml_str(s) for s in sub.sector) + "]")
        if sub.mandatory:
            lines.append("mandatory = true")
        lines.append("")
    for stage, months in (("公布排放信息", 1), ("启动审核", 2), ("提交报告", 12)):
        lines += [
            "[[deadlines]]",
            f"stage = {_toml_str(stage)}",
            f'relative = {{ after = "列入名单", months = {months} }}',
            'audit_types = ["强制"]',
            'rounds = "first"',
            "",
        ]
    lines += [
        "[certificates]",
        "renewal_window_days = 30",
        'validity_months = { "清洁生产(优秀)企业" = 24 }',
        "",
    ]
    for name, categories in (
        ("工业", ["规模以上工业"]),
        ("商贸服务业", ["重点商贸", "星级酒店", "医疗机构", "餐饮", "教育", "其他服务业"]),
        ("交通运输", ["交通运输"]),
        ("建筑", ["建筑施工"]),
        ("农业", ["农业生产"]),
    ):
        lines += [
            "[[sectors]]",
            f"name = {_toml_str(name)}",
            "categories = [" + ", ".join(_toml_str(c) for c in categories) + "]",
            "",
        ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- entry points


def make_corpus(
    size: str | Size,
    root: Path | None = None,
    *,
    seed: int = DEFAULT_SEED,
    jobs: int | None = None,
    bad_share: float = BAD_SHARE,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build the corpus under ``root`` (default ``benchmarks/corpora/<size>``); returns the manifest."""
    spec = SIZES[size] if isinstance(size, str) else size
    root = Path(root) if root is not None else CORPORA / spec.name
    if (root / "inbox").exists():
        raise FileExistsError(f"{root} already holds a corpus; remove it first")
    root.mkdir(parents=True, exist_ok=True)
    if root.parent == CORPORA:
        (CORPORA / ".gitignore").write_text("*\n", encoding="utf-8")
    started = time.perf_counter()
    plan = plan_corpus(spec, root, seed=seed, bad_share=bad_share)
    profile_path = root / PROFILE_FILE
    profile_path.write_text(profile_toml(plan), encoding="utf-8")
    load_profile(profile_path)  # fails loudly if the generated profile is not valid
    (root / "sheetsync.toml").write_text(
        f"profile = {_toml_str(str(profile_path.resolve()))}\n", encoding="utf-8"
    )
    tasks = [(plan, i, False) for i in range(len(plan.submitters))] + [(plan, plan.changed, True)]
    jobs = jobs or min(2, os.cpu_count() or 1)
    results: list[dict[str, Any]] = []
    if jobs == 1:
        iterator = map(_build_one, tasks)
        results = _collect(iterator, len(tasks), progress)
    else:
        with ProcessPoolExecutor(jobs) as pool:
            results = _collect(pool.map(_build_one, tasks, chunksize=4), len(tasks), progress)
    files = [r for r in results if not r["path"].startswith(CHANGES)]
    changed = next(r for r in results if r["path"].startswith(CHANGES))
    original = next(r for r in files if r["index"] == changed["index"])
    rows = Counter()
    planted = Counter()
    for r in files:
        rows.update(r["rows"])
        planted.update(r["planted"])
    manifest = {
        "size": spec.name,
        "seed": seed,
        "as_of": plan.as_of.isoformat(),
        "period": plan.period,
        "profile": PROFILE_FILE,
        "profile_name": plan.profile_name,
        "bad_share": bad_share,
        "workbooks": len(files),
        "rows": sum(rows.values()),
        "rows_by_sheet": dict(rows),
        "planted": {code: planted[code] for code in (*ERROR_KINDS, *FILE_WARNINGS) if planted[code]},
        "bytes": sum(r["bytes"] for r in files),
        "files": files,
        "changed": {
            "submitter": changed["submitter"],
            "original": original["path"],
            "path": changed["path"],
            "edits": changed["edits"],
        },
        "generated_seconds": round(time.perf_counter() - started, 1),
        "jobs": jobs,
        "plan": {"submitters": [asdict(s) for s in plan.submitters]},
    }
    (root / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def _collect(results: Any, total: int, progress: Callable[[str], None] | None) -> list[dict[str, Any]]:
    out = []
    for done, result in enumerate(results, start=1):
        out.append(result)
        if progress is not None and (done % 50 == 0 or done == total):
            progress(f"{done}/{total} workbooks")
    return out


def load_manifest(root: Path) -> dict[str, Any]:
    return json.loads((Path(root) / MANIFEST).read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("size", choices=sorted(SIZES))
    parser.add_argument("--out", type=Path, help="drive folder (default benchmarks/corpora/<size>)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: 2)")
    parser.add_argument("--bad-share", type=float, default=BAD_SHARE, help="share of filled cells to break")
    args = parser.parse_args(argv)
    manifest = make_corpus(
        args.size,
        args.out,
        seed=args.seed,
        jobs=args.jobs,
        bad_share=args.bad_share,
        progress=lambda text: print(text, file=sys.stderr, flush=True),
    )
    print(
        f"{manifest['size']}: {manifest['workbooks']} workbooks, {manifest['rows']:,} rows, "
        f"{sum(manifest['planted'].values()):,} bad cells planted, {manifest['bytes'] / 1e6:.1f} MB, "
        f"{manifest['generated_seconds']} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
