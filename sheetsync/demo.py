"""A synthetic shared drive for the Guangzhou 2013 programme: demos, docs and end-to-end tests.

Real submissions never leave a city's network, yet the pipeline has to be shown and tested on
input that looks like what district staff really send: a few hundred enterprises, audits at
every stage of their lifecycle, retrofit projects paid in two instalments, training events, the
office's expert pool, and the untidiness of hand-typed workbooks (dates typed as text or left as
Excel serials, full-width digits, thousands separators, stray spaces). On top of that a small
number of deliberate mistakes, at least one of every kind the validator reports, are planted and
listed in :class:`DemoDrive`, so a test can prove each one is caught and nothing else is.

Lateness is uneven, as in any programme: most districts keep to the profile's deadlines, while
two or three outer districts fall behind. Their mandatory firms include a handful listed months
ago that have not started, a few whose report is past the deadline, and some that started or
reported late; and a few 清洁生产(优秀)企业 titles granted two years before ``as_of`` are in their
renewal window or have lapsed. All of it is counted back from ``as_of``, so the master shows
who is behind whatever day the drive is built for.

Everything is drawn from one ``random.Random(seed)`` and a given ``as_of`` day, never the wall
clock or unordered iteration, so the same seed always yields the same cells.
"""

from __future__ import annotations

import csv
import io
import random
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import openpyxl
from openpyxl.workbook import Workbook as OpenpyxlWorkbook
from openpyxl.worksheet.worksheet import Worksheet as OpenpyxlWorksheet

from sheetsync.normalize import canonical
from sheetsync.profile import Profile, Stage, add_months, load_profile
from sheetsync.render_template import template_filename, write_template
from sheetsync.schemas import (
    SHEETS_BY_NAME,
    STAMP_SHEET,
    Attendee,
    Audit,
    ConsultingAgency,
    Enterprise,
    Expert,
    Project,
    SheetModel,
    SubmitterKind,
    Target,
    Training,
)
from sheetsync.schemas.agency import AGENCY_ACTIVE
from sheetsync.schemas.audit import (
    ACCEPTANCE_PASSED,
    AUDIT_FULL,
    AUDIT_ONSITE,
    CERT_EXCELLENT,
    CERT_PARTICIPATION,
)
from sheetsync.schemas.enterprise import (
    AUDIT_MANDATORY,
    AUDIT_VOLUNTARY,
    HEAVY_METAL_INDUSTRIES,
    NO_KEY_INDUSTRY,
    OTHER_KEY_INDUSTRY,
)
from sheetsync.schemas.expert import EXPERT_ACTIVE
from sheetsync.schemas.stamp import period_of
from sheetsync.schemas.target import CITY_WIDE
from sheetsync.schemas.training import NO, YES
from sheetsync.uscc import ALPHABET, check_character, uscc_problem

PROFILE_NAME = "guangzhou-2013"
DEFAULT_SEED = 2013
DEFAULT_AS_OF = date(2014, 11, 30)
PROGRAMME_START = date(2013, 6, 1)  # the notice is dated 2013-05-13; work began that summer
TARGET_YEAR = 2014
# a year of programme history: enough for every lifecycle stage, and so every mistake, to occur
EARLIEST_AS_OF = date(2014, 6, 1)

Row = dict[str, Any]  # field name → value, as the submitter will have typed it

# How a mandatory firm of a lagging district is late (the others keep to the deadlines).
STALLED = "stalled"  # listed long ago and never started
STUCK = "stuck"  # started, but its report is past the deadline and still not in
LATE_REPORT = "late-report"  # its report came in after the deadline
# Titles (清洁生产(优秀)企业) granted two years before as_of, from an earlier round.
TITLE_DUE = "due"  # in the renewal window
TITLE_LAPSED = "lapsed"  # expired, no renewal applied for
# the national rule, should a profile leave a listing deadline out (months after listing)
NATIONAL_LISTING_MONTHS: dict[Stage, int] = {Stage.STARTED: 2, Stage.REPORTED: 12}


_MOBILE_PREFIXES = ("38", "39", "35", "37", "50", "58", "86", "89", "33")


def mobile_number(rng: random.Random) -> str:
    return f"1{rng.choice(_MOBILE_PREFIXES)}{rng.randint(10_000_000, 99_999_999)}"


def phone_number(rng: random.Random, landline: Callable[[], str]) -> Any:
    """A contact phone as officers type it: a landline, a mobile, a mobile Excel turned into a
    number, or both in one cell. The demo and the benchmark corpora differ only in landlines."""
    roll = rng.random()
    if roll < 0.55:
        return landline()
    if roll < 0.85:
        return mobile_number(rng)
    if roll < 0.93:
        return int(mobile_number(rng))  # Excel turned it into a number
    return f"{landline()}、{mobile_number(rng)}"


class Mistake(NamedTuple):
    """One deliberate mistake: where it is and the error code the validator must report for it."""

    submitter: str  # the inbox folder the file lies in
    file_name: str
    sheet: str | None  # None for problems of the whole file
    code: str


@dataclass(frozen=True)
class DemoDrive:
    root: Path
    files: list[Path]
    mistakes: list[Mistake]
    enterprise_count: int  # distinct enterprises whose 企业名录 row is meant to be accepted
    credit_codes: frozenset[str]  # their credit codes, all valid
    bad_codes: frozenset[str]  # credit codes deliberately written wrong, exactly as written
    period: str
    as_of: date
    seed: int
    behind: tuple[str, ...] = ()  # the districts made to lag: only their audits are open overdue

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"


# ---------------------------------------------------------------------------- reference data

# GB/T 2260 division codes as in force in 2013 (萝岗区 and the two county-level cities were merged
# or renamed in 2014-2015; credit codes issued earlier keep them). 440101 is the city level, which
# the municipal registration office used for many firms.
DIVISION_CODES: dict[str, str] = {
    "越秀区": "440104",
    "海珠区": "440105",
    "荔湾区": "440103",
    "天河区": "440106",
    "白云区": "440111",
    "黄埔区": "440112",
    "番禺区": "440113",
    "花都区": "440114",
    "南沙区": "440115",
    "萝岗区": "440116",
    "增城市": "440183",
    "从化市": "440184",
}
CITY_DIVISION = "440101"

# short prefixes for project and training numbers, which must not collide across submitters
PREFIXES: dict[str, str] = {
    "越秀区": "YX",
    "海珠区": "HZ",
    "荔湾区": "LW",
    "天河区": "TH",
    "白云区": "BY",
    "黄埔区": "HP",
    "番禺区": "PY",
    "花都区": "HD",
    "南沙区": "NS",
    "萝岗区": "LG",
    "增城市": "ZC",
    "从化市": "CH",
    "市城乡建委": "JW",
    "市交委": "JT",
    "市农业局": "NY",
    "市旅游局": "LY",
    "市环保局": "HB",
    "市经贸委": "JM",
    "市科信局": "KX",
}

CENTRAL_DISTRICTS = ("越秀区", "海珠区", "荔湾区", "天河区")
PARKS: dict[str, tuple[str, float]] = {
    "萝岗区": ("广州开发区", 0.75),
    "黄埔区": ("广州开发区", 0.35),
    "南沙区": ("南沙经济技术开发区", 0.6),
    "增城市": ("增城经济技术开发区", 0.5),
    "花都区": ("花都汽车城", 0.45),
}

CENTRAL_MIX: tuple[tuple[str, int], ...] = (
    ("规模以上工业", 30),
    ("重点商贸", 30),
    ("餐饮", 14),
    ("医疗机构", 8),
    ("其他服务业", 12),
    ("教育", 6),
)
INDUSTRIAL_MIX: tuple[tuple[str, int], ...] = (
    ("规模以上工业", 80),
    ("重点商贸", 10),
    ("餐饮", 4),
    ("其他服务业", 6),
)


class Trade(NamedTuple):
    """A line of business: GB/T 4754 section and code, the word firms put in their names."""

    section: str
    code: str
    word: str
    key_industry: str = NO_KEY_INDUSTRY


C = "C 制造业"
D = "D 电力、热力、燃气及水生产和供应业"
INDUSTRY_TRADES: tuple[tuple[Trade, int], ...] = (
    (Trade(C, "2614", "化工", "化学原料及化学制品制造业"), 5),
    (Trade(C, "2641", "涂料", "化学原料及化学制品制造业"), 4),
    (Trade(C, "3843", "蓄电池", "含铅蓄电池业"), 2),
    (Trade(C, "1910", "皮革", "皮革及其制品业"), 2),
    (Trade(C, "1952", "鞋业", "皮革及其制品业"), 2),
    (Trade(C, "3011", "水泥", "水泥"), 1),
    (Trade(C, "3120", "钢铁", "钢铁"), 1),
    (Trade(C, "3041", "玻璃", "平板玻璃"), 1),
    (Trade(C, "3731", "船舶", "造船"), 1),
    (Trade(C, "2221", "纸业", OTHER_KEY_INDUSTRY), 3),
    (Trade(C, "1713", "印染", OTHER_KEY_INDUSTRY), 3),
    (Trade(C, "3360", "电镀", OTHER_KEY_INDUSTRY), 3),
    (Trade(C, "2710", "制药", OTHER_KEY_INDUSTRY), 3),
    (Trade(D, "4411", "热电", OTHER_KEY_INDUSTRY), 1),
    (Trade(C, "2682", "化妆品"), 6),
    (Trade(C, "1523", "饮料"), 4),
    (Trade(C, "1439", "食品"), 5),
    (Trade(C, "3670", "汽车零部件"), 7),
    (Trade(C, "3611", "汽车"), 1),
    (Trade(C, "3982", "电子"), 8),
    (Trade(C, "2922", "塑料制品"), 6),
    (Trade(C, "2110", "家具"), 4),
    (Trade(C, "3389", "五金制品"), 5),
    (Trade(C, "1810", "服装"), 4),
    (Trade(C, "3512", "机械设备"), 4),
    (Trade(D, "4610", "自来水"), 1),
)
AUTO_TRADES = tuple(trade for trade, _ in INDUSTRY_TRADES if trade.word.startswith("汽车"))

SECTOR_TRADES: dict[str, tuple[Trade, ...]] = {
    "重点商贸": (
        Trade("F 批发和零售业", "5211", "百货"),
        Trade("F 批发和零售业", "5212", "商业连锁"),
        Trade("F 批发和零售业", "5261", "汽车销售服务"),
        Trade("F 批发和零售业", "5174", "建材贸易"),
    ),
    "餐饮": (Trade("H 住宿和餐饮业", "6210", "饮食"), Trade("H 住宿和餐饮业", "6210", "酒家")),
    "医疗机构": (Trade("Q 卫生和社会工作", "8411", "医院"),),
    "教育": (Trade("P 教育", "8336", "职业技术学校"),),
    "其他服务业": (
        Trade("O 居民服务、修理和其他服务业", "8051", "洗涤服务"),
        Trade("O 居民服务、修理和其他服务业", "8111", "汽车维修"),
    ),
    "星级酒店": (
        Trade("H 住宿和餐饮业", "6110", "大酒店"),
        Trade("H 住宿和餐饮业", "6110", "酒店"),
        Trade("H 住宿和餐饮业", "6110", "宾馆"),
    ),
    "交通运输": (
        Trade("G 交通运输、仓储和邮政业", "5411", "巴士"),
        Trade("G 交通运输、仓储和邮政业", "5413", "出租汽车"),
        Trade("G 交通运输、仓储和邮政业", "5431", "物流"),
        Trade("G 交通运输、仓储和邮政业", "5421", "汽车客运"),
    ),
    "建筑施工": (
        Trade("E 建筑业", "4710", "建筑工程"),
        Trade("E 建筑业", "4813", "市政工程"),
        Trade("E 建筑业", "4790", "建设集团"),
    ),
    "农业生产": (
        Trade("A 农、林、牧、渔业", "0141", "蔬菜"),
        Trade("A 农、林、牧、渔业", "0313", "畜牧"),
        Trade("A 农、林、牧、渔业", "0412", "水产养殖"),
        Trade("A 农、林、牧、渔业", "0151", "荔枝"),
    ),
}
# where each agency's firms tend to be
SECTOR_DISTRICTS: dict[str, tuple[str, ...]] = {
    "星级酒店": ("越秀区", "天河区", "海珠区", "白云区", "番禺区", "荔湾区"),
    "交通运输": tuple(DIVISION_CODES),
    "建筑施工": ("天河区", "越秀区", "海珠区", "白云区", "番禺区"),
    "农业生产": ("从化市", "增城市", "花都区", "白云区", "番禺区", "南沙区"),
}
SECTOR_SIZES: dict[str, tuple[int, int]] = {
    "星级酒店": (12, 16),
    "交通运输": (8, 11),
    "建筑施工": (7, 10),
    "农业生产": (9, 12),
}
# organisation type of the credit code: 9 企业, 5 民办非企业单位 (private hospitals, schools), 93 合作社
ORG_TYPE: dict[str, str] = {"医疗机构": "52", "教育": "52"}

BRAND_CHARS = "穗粤珠华宏金恒嘉盛顺荣泰丰裕鸿骏信达兴隆源合利安康宝联创瑞祥富凯德昌永晟铭科威捷润南海天云越"
SURNAMES = "陈李黄张梁林刘吴罗何郑谢杨冯邓曾彭许苏叶蔡潘卢钟周朱徐胡麦谭关莫区邱温"
GIVEN_NAMES = (
    "伟", "敏", "志强", "丽华", "建华", "嘉欣", "俊杰", "国华", "文辉", "婉婷", "晓东", "秀英",
    "永明", "淑贞", "家豪", "思宁", "锦荣", "美玲", "振华", "少芬", "卓伟", "健", "颖", "浩然",
    "慧敏", "志明", "雪梅", "海燕", "国强", "伟明", "耀祖", "碧霞", "汉文", "丽娟", "炳坤", "洁莹",
)  # fmt: skip
HEAD_TITLES: dict[str, tuple[str, ...]] = {
    "医疗机构": ("院长",),
    "教育": ("校长",),
    "农业生产": ("总经理", "理事长", "场长"),
}
DEFAULT_HEAD_TITLES = ("董事长", "总经理", "厂长")
STAFF_TITLES = (
    "副总经理", "生产部经理", "设备部主管", "安环部经理", "EHS主管", "行政经理", "能源管理员",
    "环保专员", "工程部经理", "品质部主管",
)  # fmt: skip

PROJECT_NAMES: dict[str, tuple[str, ...]] = {
    "节能": (
        "空压机系统节能改造",
        "电机变频节能改造",
        "LED照明节能改造",
        "锅炉余热回收利用",
        "中央空调系统节能改造",
    ),
    "节水": ("冷却水循环利用改造", "中水回用项目", "节水器具更换改造"),
    "减污": ("有机废气(VOCs)治理", "废水深度处理改造", "粉尘收集系统改造"),
    "资源综合利用": ("生产边角料回收利用", "废有机溶剂回收", "污泥资源化利用"),
    "清洁能源替代": ("燃煤锅炉改燃天然气", "屋顶分布式光伏发电", "燃油锅炉改用天然气"),
    "工艺设备改造": ("喷涂生产线自动化改造", "注塑机伺服节能改造", "电镀线逆流漂洗改造", "生产线密闭化改造"),
    "其他": ("能源管理系统建设", "清洁生产在线监测系统建设"),
}
SECTOR_PROJECTS: dict[str, tuple[tuple[str, str], ...]] = {
    "星级酒店": (
        ("节水", "客房节水器具改造"),
        ("节能", "空气源热泵热水系统改造"),
        ("减污", "厨房油烟净化改造"),
    ),
    "交通运输": (
        ("清洁能源替代", "公交车更换LNG车辆"),
        ("清洁能源替代", "纯电动公交车示范运营"),
        ("节能", "场站LED照明改造"),
    ),
    "建筑施工": (
        ("减污", "施工扬尘在线监测系统"),
        ("资源综合利用", "建筑废弃物再生利用"),
        ("节水", "工地雨水收集利用"),
    ),
    "农业生产": (("减污", "畜禽粪污资源化利用"), ("节水", "滴灌节水改造"), ("其他", "测土配方施肥示范")),
}
ENERGY_CATEGORIES = frozenset({"节能", "清洁能源替代", "工艺设备改造", "其他"})

TOPICS: dict[str, tuple[str, ...]] = {
    "认知推广": ("清洁生产认知推广培训", "《广州市全面推行清洁生产行动方案》宣贯会", "清洁生产知识普及讲座"),
    "专题培训": (
        "企业管理层清洁生产专题培训",
        "清洁生产审核报告编制专题培训",
        "节能减排技改项目申报培训",
        "重点行业清洁生产审核技术培训",
    ),
    "现场会": ("清洁生产技改项目现场会", "清洁生产示范企业现场观摩会"),
    "经验交流": ("清洁生产优秀企业经验交流会", "粤港清洁生产伙伴计划经验交流会"),
}
MANDATORY_TOPIC = "强制性清洁生产审核工作培训"
ASSOCIATION = "广州市循环经济清洁生产协会"

CONSULTANT_PATTERNS = (
    "广州市{brand}环保科技有限公司",
    "广东{brand}节能技术服务有限公司",
    "广州{brand}清洁生产技术咨询有限公司",
    "广州市{brand}环境工程技术有限公司",
    "广东{brand}环境科技有限公司",
)
EXPERT_EMPLOYERS: tuple[tuple[str, str], ...] = (
    ("华南理工大学", "天河区"),
    ("中山大学", "海珠区"),
    ("广东工业大学", "越秀区"),
    ("广州大学", "番禺区"),
    ("华南农业大学", "天河区"),
    ("暨南大学", "天河区"),
    ("广东省环境科学研究院", "越秀区"),
    ("广州市环境保护科学研究院", "越秀区"),
    ("广州能源检测研究院", "天河区"),
    ("中国科学院广州能源研究所", "天河区"),
    ("广东省建筑科学研究院", "越秀区"),
)
EXPERT_TITLES = (
    "教授",
    "副教授",
    "高级工程师",
    "教授级高级工程师",
    "研究员",
    "副研究员",
    "高级经济师",
    "注册会计师",
)
SPECIALTY_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("工艺", 35),
    ("节能", 25),
    ("环保", 25),
    ("财务", 7),
    ("审核", 8),
)
EXPERT_SECTIONS: tuple[tuple[str, int], ...] = (
    (C, 60),
    (D, 10),
    ("H 住宿和餐饮业", 8),
    ("G 交通运输、仓储和邮政业", 6),
    ("E 建筑业", 5),
    ("A 农、林、牧、渔业", 5),
    ("F 批发和零售业", 6),
)

# the metrics the office sets per district each year, and the city-wide extras
DISTRICT_METRICS = (
    "覆盖企业数",
    "启动审核企业数",
    "通过验收企业数",
    "实地评估企业数",
    "技改项目数",
    "年节能量",
    "培训期数",
    "培训人次",
    "参训企业数",
    "正职参训企业数",
)

LONG_TOPIC = (
    "为贯彻落实《广州市全面推行清洁生产行动方案》(穗经贸〔2013〕6号),进一步提高辖区规模以上工业企业"
    "和重点商贸企业管理层对清洁生产的认识,推动企业建立清洁生产审核小组、由主要领导人担任组长,"
    "制定审核计划并报区经贸部门备案,现组织开展本期清洁生产专题培训。"
)

GBK_TRAINING_CSV = "培训活动.csv"  # a district exports its newest events from its own system
CSV_DISTRICT = "黄埔区"

FULL_WIDTH = str.maketrans("0123456789.,", "０１２３４５６７８９．，")
EXCEL_EPOCH = date(1899, 12, 30)


# ---------------------------------------------------------------------------- small helpers


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later; 29 February falls back to the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def excel_serial(day: date) -> int:
    return (day - EXCEL_EPOCH).days


def organisation_code(rng: random.Random) -> str:
    """Nine characters of a pre-2015 organisation code (GB 11714) with its own check digit."""
    body = str(rng.randint(1, 7)) + "".join(str(rng.randint(0, 9)) for _ in range(7))
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    remainder = 11 - sum(int(char) * weight for char, weight in zip(body, weights, strict=True)) % 11
    check = {10: "X", 11: "0"}.get(remainder, str(remainder))
    return body + check


def new_style_code(rng: random.Random) -> str:
    """Nine characters as issued after the 2015 reform: ``MA`` and seven of the code alphabet."""
    return "MA" + rng.choice("59") + "".join(rng.choice(ALPHABET) for _ in range(6))


def checksum_typo(code: str, rng: random.Random) -> str:
    """Two neighbouring characters swapped, the commonest copying slip: the check always fails."""
    while True:
        at = rng.randint(8, 15)
        if code[at] != code[at + 1]:
            typo = code[:at] + code[at + 1] + code[at] + code[at + 2 :]
            if uscc_problem(typo) == "uscc-checksum":
                return typo


def format_typo(code: str, rng: random.Random) -> str:
    """A letter O typed for a zero, or the firm's old 15-digit registration number."""
    zeros = [at for at in range(8, 17) if code[at] == "0"]
    if zeros and rng.random() < 0.5:
        at = rng.choice(zeros)
        return code[:at] + "O" + code[at + 1 :]
    return code[2:8] + "".join(str(rng.randint(0, 9)) for _ in range(9))


def weighted(rng: random.Random, options: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([value for value, _ in options], [weight for _, weight in options])[0]


def between(rng: random.Random, start: date, end: date) -> date:
    if end <= start:
        return start
    return start + timedelta(days=rng.randint(0, (end - start).days))


def index_of(rows: Sequence[Row], row: Row) -> int:
    """Position of this very row: equal copies (planted duplicates) must not be confused with it."""
    return next(at for at, other in enumerate(rows) if other is row)


def to_headers(model: type[SheetModel], row: Row) -> dict[str, Any]:
    """Field names → the Chinese headers the template uses; empty cells are left out."""
    return {
        model.header(name): value
        for name, value in row.items()
        if not name.startswith("_") and value is not None
    }


# ---------------------------------------------------------------------------- the build's state


@dataclass(eq=False)
class Firm:
    """An enterprise as the demo knows it; compared by identity, like the rows built from it."""

    uscc: str
    name: str
    district: str
    category: str
    trade: Trade
    park: str | None
    head: str
    contact: str
    phone: str
    listed_on: date | None = None  # on the mandatory-audit list since
    mandatory_reason: str | None = None
    remark: str | None = None

    @property
    def mandatory(self) -> bool:
        return self.listed_on is not None


@dataclass(eq=False)
class Submission:
    """One submitter's workbook while it is being built, before it is written."""

    submitter: str
    kind: SubmitterKind
    file_name: str
    sloppiness: float  # 0 tidy … 1 every cell typed a different way
    rows: dict[str, list[Row]] = field(default_factory=dict)
    firms: list[Firm] = field(default_factory=list)
    bare: list[Firm] = field(default_factory=list)  # firms nothing else refers to: safe to break
    loose_trainings: list[Row] = field(default_factory=list)  # events without an attendee list
    csv_rows: list[Row] = field(default_factory=list)  # 培训活动 sent separately as GBK csv
    project_count: int = 0

    def sheet(self, model: type[SheetModel]) -> list[Row]:
        return self.rows.setdefault(model.sheet_name, [])

    def active_firms(self) -> list[Firm]:
        bare = {firm.uscc for firm in self.bare}
        return [firm for firm in self.firms if firm.uscc not in bare]

    @property
    def prefix(self) -> str:
        return PREFIXES[self.submitter]


class DemoBuilder:
    """Draws the whole drive from one random generator, in a fixed order."""

    def __init__(self, root: Path, *, seed: int, as_of: date, profile: Profile) -> None:
        self.root = root
        self.seed = seed
        self.as_of = as_of
        self.profile = profile
        self.rng = random.Random(seed)
        self.period = period_of(as_of, profile.reporting)
        self.codes: set[str] = set()  # only for membership: never iterated
        self.names: set[str] = set()
        self.mistakes: list[Mistake] = []
        self.bad_codes: list[str] = []
        self.broken_firms: list[str] = []  # credit codes whose 企业名录 row carries a mistake
        self.consultants: list[Row] = []
        self.submissions: dict[str, Submission] = {}
        self.behind: tuple[str, ...] = ()  # the districts that lag, in the profile's order
        self.titles: dict[str, list[str]] = {}  # district → TITLE_DUE / TITLE_LAPSED to plant
        self.kept: list[Row] = []  # rows that show lateness: no mistake may be planted on them

    # ------------------------------------------------------------------ identities

    def person(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN_NAMES)

    def landline(self) -> str:
        number = f"{self.rng.choice('3833828')}{self.rng.randint(1000000, 9999999)}"
        return self.rng.choice((f"020-{number}", f"020-{number}", f"(020){number}", f"020 {number}"))

    def mobile(self) -> str:
        return mobile_number(self.rng)

    def phone(self) -> Any:
        return phone_number(self.rng, self.landline)

    def credit_code(self, division: str, org_type: str = "91") -> str:
        while True:
            body = new_style_code(self.rng) if self.rng.random() < 0.12 else organisation_code(self.rng)
            first17 = org_type + division + body[:9]
            code = first17[:17] + check_character(first17[:17])
            if code not in self.codes:
                self.codes.add(code)
                return code

    def brand(self) -> str:
        first, second = self.rng.sample(BRAND_CHARS, 2)
        return first + second

    def unique_name(self, make: Callable[[str], str]) -> str:
        while True:
            name = make(self.brand())
            if name not in self.names:
                self.names.add(name)
                return name

    # ------------------------------------------------------------------ firms

    def firm(self, district: str, category: str) -> Firm:
        rng = self.rng
        park = None
        if category == "规模以上工业":
            trade = weighted(rng, INDUSTRY_TRADES)
            if district in PARKS and rng.random() < PARKS[district][1]:
                park = PARKS[district][0]
                if park == "花都汽车城" and rng.random() < 0.7:
                    trade = rng.choice(AUTO_TRADES)
        else:
            trade = rng.choice(SECTOR_TRADES[category])
        org_type = ORG_TYPE.get(category, "91")
        name = self.unique_name(lambda brand: self.firm_name(brand, trade, category, district))
        if "合作社" in name:
            org_type = "93"
        division = DIVISION_CODES[district] if rng.random() < 0.7 else CITY_DIVISION
        firm = Firm(
            uscc=self.credit_code(division, org_type),
            name=name,
            district=district,
            category=category,
            trade=trade,
            park=park,
            head=self.person(),
            contact=self.person(),
            phone=self.phone(),
        )
        if rng.random() < 0.05:
            firm.remark = rng.choice(("2014年新增", "原名称已变更", "已搬迁至园区", "母公司统一审核"))
        return firm

    def firm_name(self, brand: str, trade: Trade, category: str, district: str) -> str:
        rng = self.rng
        word = trade.word
        match category:
            case "医疗机构":
                return f"广州{brand}{word}"
            case "教育":
                return f"广州市{brand}{word}"
            case "农业生产" if word == "荔枝" or rng.random() < 0.3:
                return f"{district}{brand}{word}专业合作社"
            case "农业生产":
                return f"广州市{brand}{word}发展有限公司"
            case "星级酒店" | "餐饮":
                return rng.choice((f"广州{brand}{word}有限公司", f"广州市{brand}{word}有限公司"))
        return rng.choice(
            (
                f"广州市{brand}{word}有限公司",
                f"广州市{brand}{word}有限公司",
                f"广州{brand}{word}有限公司",
                f"广州{brand}{word}股份有限公司",
                f"{brand}{word}(广州)有限公司",
            )
        )

    def list_as_mandatory(self, firm: Firm) -> None:
        """Key industries are mostly on the list; a few others are there for an offence."""
        rng = self.rng
        if firm.category != "规模以上工业":
            return
        key = firm.trade.key_industry
        if key != NO_KEY_INDUSTRY and rng.random() < 0.55:
            reason = "重点行业"
            if key in HEAVY_METAL_INDUSTRIES and rng.random() < 0.4:
                reason = "使用有毒有害原料"
        elif rng.random() < 0.04:
            reason = rng.choice(("超标排放", "超能耗限额"))
        else:
            return
        batches = [day for day in self.mandatory_batches() if day <= self.as_of - timedelta(days=30)]
        firm.listed_on = rng.choice(batches)
        firm.mandatory_reason = reason

    def mandatory_batches(self) -> tuple[date, ...]:
        """The list is published in batches, so many firms share a listing date."""
        return (date(2013, 7, 15), date(2013, 11, 20), date(2014, 4, 10), date(2014, 8, 25))

    def enterprise_row(self, firm: Firm) -> Row:
        return {
            "uscc": firm.uscc,
            "name": firm.name,
            "district": firm.district,
            "park": firm.park,
            "industry_section": self.section_text(firm.trade.section),
            "industry_code": firm.trade.code if self.rng.random() < 0.8 else None,
            "category": firm.category,
            "key_industry": firm.trade.key_industry if firm.category == "规模以上工业" else None,
            "audit_type": AUDIT_MANDATORY if firm.mandatory else AUDIT_VOLUNTARY,
            "mandatory_listed_on": firm.listed_on,
            "mandatory_reason": firm.mandatory_reason,
            "head_name": firm.head,
            "contact": firm.contact,
            "phone": firm.phone,
            "remark": firm.remark,
        }

    def section_text(self, section: str) -> str:
        """Submitters pick the drop-down (``C 制造业``) or type the letter or the name alone."""
        roll = self.rng.random()
        letter, name = section.split(" ", 1)
        if roll < 0.85:
            return section
        return letter if roll < 0.93 else name

    # ------------------------------------------------------------------ audits

    def consultant_name(self) -> str | None:
        active = [row["name"] for row in self.consultants if row["status"] == AGENCY_ACTIVE]
        if self.rng.random() < 0.08:
            return None
        return self.rng.choice(active)

    def lifecycle(
        self, uscc: str, round_no: int, method: str, started: date, *, report_on: date | None = None
    ) -> Row:
        """One audit round, taken as far as ``as_of`` allows, every date after the one before.

        ``report_on`` fixes when the report comes in (after ``as_of``: it has not yet).
        """
        rng = self.rng
        row: Row = {"uscc": uscc, "round": round_no, "method": method, "agency": self.consultant_name()}
        row["started_on"] = started
        contract = started + timedelta(days=rng.randint(3, 25))
        if contract <= self.as_of:
            row["contract_filed_on"] = contract
        report = report_on
        if report is None:
            days = rng.randint(50, 130) if method == AUDIT_ONSITE else rng.randint(120, 300)
            report = started + timedelta(days=days)
        if report > self.as_of:
            return row
        row["report_on"] = report
        evaluated = report + timedelta(days=rng.randint(15, 60))
        if evaluated > self.as_of:
            return row
        grade = weighted(rng, (("优秀", 15), ("良好", 40), ("合格", 40), ("不合格", 5)))
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
        acceptance = weighted(rng, ((ACCEPTANCE_PASSED, 80), ("限期整改", 15), ("不通过", 5)))
        row.update(accepted_on=accepted, acceptance=acceptance)
        if acceptance != ACCEPTANCE_PASSED:
            row["remark"] = "限期3个月整改" if acceptance == "限期整改" else None
            return row
        certified = accepted + timedelta(days=rng.randint(10, 40))
        if certified <= self.as_of:
            row.update(
                certificate=CERT_EXCELLENT, certified_on=certified, valid_until=add_years(certified, 2)
            )
        return row

    def audit_rounds(self, firm: Firm, full_share: float) -> list[Row]:
        """A voluntary firm's rounds: often an on-site assessment first, a full audit a year on."""
        rng = self.rng
        method = AUDIT_FULL if rng.random() < full_share else AUDIT_ONSITE
        started = between(rng, PROGRAMME_START + timedelta(days=20), self.as_of - timedelta(days=15))
        rounds = [self.lifecycle(firm.uscc, 1, method, started)]
        certified = rounds[0].get("certified_on")
        if method == AUDIT_ONSITE and certified is not None:
            second = certified + timedelta(days=rng.randint(300, 400))
            if second <= self.as_of - timedelta(days=10):
                rounds.append(self.lifecycle(firm.uscc, 2, AUDIT_FULL, second))
        return rounds

    def listing_deadline(self, stage: Stage, listed: date) -> date:
        """When a first mandatory round must reach ``stage`` under the profile, counted from listing."""
        for rule in self.profile.deadlines:
            if (
                rule.stage is stage
                and rule.relative is not None
                and rule.relative.after is Stage.LISTED
                and rule.applies_to(AUDIT_MANDATORY, AUDIT_FULL, 1)
            ):
                return rule.relative.resolve(listed)
        return add_months(listed, NATIONAL_LISTING_MONTHS[stage])

    def mandatory_audit(self, firm: Firm, lag: str | None = None) -> Row:
        """The bureau's row for a listed firm, started or not; ``lag`` says how it is late.

        A healthy district's firms start and report within the profile's deadlines, but for a
        few that started late (never so late that they have still not started by ``as_of``). A
        lagging district's firms start late more often, and those :meth:`lagging_firms` picks
        are stalled, stuck before their report, or reported late.
        """
        assert firm.listed_on is not None
        rng = self.rng
        listed = firm.listed_on
        if lag == STALLED:
            row = self.not_started(firm, rng.choice(("多次督促仍未启动", "企业称正在选择咨询机构", None)))
            self.kept.append(row)
            return row
        start_by = self.listing_deadline(Stage.STARTED, listed)
        report_by = self.listing_deadline(Stage.REPORTED, listed)
        behind = firm.district in self.behind
        slow = rng.random() < (0.3 if behind else 0.1)
        late_start = start_by + timedelta(days=rng.randint(10, 60))
        if slow and (behind or late_start <= self.as_of - timedelta(days=5)):
            started = late_start
        else:
            started = listed + timedelta(days=rng.randint(15, max(15, (start_by - listed).days - 5)))
        if started > self.as_of - timedelta(days=5):
            return self.not_started(firm, "已通知企业启动审核")
        if lag == STUCK:
            report = self.as_of + timedelta(days=rng.randint(10, 120))
        elif lag == LATE_REPORT:
            report = report_by + timedelta(
                days=rng.randint(10, max(10, min(150, (self.as_of - report_by).days)))
            )
        else:
            on_time = report_by - timedelta(days=rng.randint(5, 30))
            report = min(started + timedelta(days=rng.randint(120, 300)), on_time)
        row = self.lifecycle(firm.uscc, 1, AUDIT_FULL, started, report_on=report)
        if lag is not None:
            self.kept.append(row)
        return row

    def not_started(self, firm: Firm, remark: str | None) -> Row:
        """A listed firm the bureau tracks before its audit starts: the row has no dates yet."""
        return {"uscc": firm.uscc, "round": 1, "method": AUDIT_FULL, "agency": None, "remark": remark}

    # ------------------------------------------------------------------ lateness

    def plan_lateness(self) -> None:
        """Pick the two or three districts that lag, and where the expiring titles are.

        Only outer districts, where most of the listed industry is, are among the laggards.
        Titles past their expiry are theirs; titles in the renewal window are anywhere.
        """
        rng = self.rng
        districts = self.profile.districts
        outer = [name for name in districts if name not in CENTRAL_DISTRICTS]
        behind = set(rng.sample(outer, rng.choice((2, 3))))
        self.behind = tuple(name for name in districts if name in behind)
        healthy = [name for name in districts if name not in behind]
        self.titles = {name: [] for name in districts}
        for name in rng.sample(self.behind, rng.choice((1, 2))):
            self.titles[name].append(TITLE_LAPSED)
        for name in (rng.choice(self.behind), *rng.sample(healthy, 2)):
            self.titles[name].append(TITLE_DUE)

    def list_laggards(self, sub: Submission) -> None:
        """A lagging district has enough firms listed long ago to be late with.

        At least six listed before their start is three months overdue and, where a batch that
        old exists, three whose report is overdue too; key-industry firms are listed first.
        """
        rng = self.rng
        unlisted = [firm for firm in sub.firms if firm.category == "规模以上工业" and not firm.mandatory]
        rng.shuffle(unlisted)
        unlisted.sort(key=lambda firm: firm.trade.key_industry == NO_KEY_INDUSTRY)  # stable: key first
        wanted = (
            (add_months(self.as_of, -13), 3),  # the report, due 12 months on, is overdue too
            (add_months(self.as_of, -3), 6),  # the start, due 2 months on, is a month overdue
        )
        for limit, count in wanted:
            batches = [day for day in self.mandatory_batches() if day <= limit]

            def listed_by(limit: date = limit) -> int:
                return sum(1 for firm in sub.firms if firm.listed_on is not None and firm.listed_on <= limit)

            while batches and unlisted and listed_by() < count:
                firm = unlisted.pop(0)
                firm.listed_on = rng.choice(batches)
                key = firm.trade.key_industry != NO_KEY_INDUSTRY
                firm.mandatory_reason = "重点行业" if key else rng.choice(("超标排放", "超能耗限额"))

    def lagging_firms(self, listed: Sequence[Firm]) -> dict[Firm, str]:
        """In each lagging district: one or two stuck, one reported late, a handful stalled.

        Stuck and late reports need a listing over a year old, which :meth:`list_laggards` makes
        sure of whenever a batch that old exists.
        """
        rng = self.rng
        lags: dict[Firm, str] = {}
        cutoff = self.as_of - timedelta(days=20)  # deadlines passed at least this long ago

        def overdue(stage: Stage, firm: Firm) -> bool:
            return firm.listed_on is not None and self.listing_deadline(stage, firm.listed_on) < cutoff

        for district in self.behind:
            own = [firm for firm in listed if firm.district == district]
            report_late = [firm for firm in own if overdue(Stage.REPORTED, firm)]
            for firm in rng.sample(report_late, min(len(report_late), rng.randint(1, 2))):
                lags[firm] = STUCK
            rest = [firm for firm in report_late if firm not in lags]
            if rest:
                lags[rng.choice(rest)] = LATE_REPORT
            start_late = [firm for firm in own if firm not in lags and overdue(Stage.STARTED, firm)]
            for firm in rng.sample(start_late, min(len(start_late), rng.randint(3, 5))):
                lags[firm] = STALLED
        return lags

    def title_holders(self, sub: Submission, active: Sequence[Firm]) -> list[Firm]:
        """Firms that hold a title from an earlier round, now due or lapsed; kept out of new audits."""
        planned = self.titles.get(sub.submitter, [])
        candidates = [
            firm for firm in active if not firm.mandatory and firm.trade.key_industry == NO_KEY_INDUSTRY
        ]
        holders = self.rng.sample(candidates, min(len(planned), len(candidates)))
        for firm, kind in zip(holders, planned, strict=False):
            rows = self.earlier_title(firm, due=kind == TITLE_DUE)
            sub.sheet(Audit).extend(rows)
            self.kept.extend(rows)
        return holders

    def earlier_title(self, firm: Firm, *, due: bool) -> list[Row]:
        """A round that won 清洁生产(优秀)企业 two years before ``as_of``, counted back from its expiry.

        A title in its renewal window may have a new round under way; a lapsed one has none.
        """
        rng = self.rng
        window = self.profile.certificates.renewal_window_days
        months = self.profile.certificates.validity_months.get(CERT_EXCELLENT, 24)
        days_left = rng.randint(3, max(3, window - 3)) if due else -rng.randint(10, 75)
        certified = add_months(self.as_of + timedelta(days=days_left), -months)
        accepted = certified - timedelta(days=rng.randint(10, 40))
        evaluated = accepted - timedelta(days=rng.randint(60, 200))
        report = evaluated - timedelta(days=rng.randint(15, 60))
        started = report - timedelta(days=rng.randint(120, 300))
        row: Row = {
            "uscc": firm.uscc,
            "round": 1,
            "method": AUDIT_FULL,
            "agency": self.consultant_name(),
            "started_on": started,
            "contract_filed_on": started + timedelta(days=rng.randint(3, 25)),
            "report_on": report,
            "evaluated_on": evaluated,
            "grade": weighted(rng, (("优秀", 25), ("良好", 45), ("合格", 30))),
            "accepted_on": accepted,
            "acceptance": ACCEPTANCE_PASSED,
            "certificate": CERT_EXCELLENT,
            "certified_on": certified,
            "valid_until": add_months(certified, months),
        }
        rows = [row]
        if due and rng.random() < 0.35:
            renewal = self.as_of - timedelta(days=rng.randint(15, 80))
            rows.append(self.lifecycle(firm.uscc, 2, AUDIT_FULL, renewal))
            rows[-1]["remark"] = "换证复审"
        return rows

    # ------------------------------------------------------------------ projects

    def projects(self, sub: Submission, firm: Firm, audit: Row) -> list[Row]:
        evaluated = audit.get("evaluated_on")
        if evaluated is None or audit.get("grade") == "不合格":
            return []
        count = 1 if audit["method"] == AUDIT_ONSITE else self.rng.randint(1, 3)
        return [self.project(sub, firm, evaluated) for _ in range(count)]

    def project(self, sub: Submission, firm: Firm, evaluated: date) -> Row:
        rng = self.rng
        if firm.category in SECTOR_PROJECTS:
            category, name = rng.choice(SECTOR_PROJECTS[firm.category])
        else:
            category = rng.choice(tuple(PROJECT_NAMES))
            name = rng.choice(PROJECT_NAMES[category])
        cheap = rng.random() < 0.35
        investment = round(rng.uniform(0.5, 30), 2) if cheap else round(rng.uniform(30, 1500), 2)
        declared = min(evaluated + timedelta(days=rng.randint(0, 60)), self.as_of)
        sub.project_count += 1
        row: Row = {
            "project_id": f"{sub.prefix}{declared.year}-{sub.project_count:03d}",
            "uscc": firm.uscc,
            "name": name,
            "category": category,
            "option_type": "无低费" if cheap else "中高费",
            "investment": investment,
            "status": "申报",
        }
        row.update(self.savings(category, investment))
        if not cheap:
            requested = round(investment * rng.uniform(0.1, 0.3), 2)
            row["subsidy_requested"] = requested
        started = declared + timedelta(days=rng.randint(10, 90))
        if started > self.as_of:
            return row
        row.update(started_on=started, status="实施中")
        if not cheap and rng.random() < 0.85:
            self.approve(row, started)
        finished = started + timedelta(days=rng.randint(20, 60) if cheap else rng.randint(60, 330))
        if finished > self.as_of:
            return row
        row.update(finished_on=finished, status="已完工")
        accepted = finished + timedelta(days=rng.randint(30, 120))
        if accepted > self.as_of:
            return row
        row.update(performance_accepted_on=accepted, status="已验收")
        if row.get("first_paid") is not None:
            second_on = accepted + timedelta(days=rng.randint(15, 60))
            if second_on <= self.as_of:
                row.update(
                    second_paid_on=second_on,
                    second_paid=round(row["subsidy_approved"] - row["first_paid"], 2),
                )
        return row

    def approve(self, row: Row, started: date) -> None:
        """Subsidy approved at most as requested; 70% paid once the project is under way."""
        rng = self.rng
        approved = round(row["subsidy_requested"] * rng.choice((1, 1, 0.9, 0.8)), 2)
        row["subsidy_approved"] = approved
        first_on = started + timedelta(days=rng.randint(15, 60))
        if first_on <= self.as_of:
            row.update(first_paid_on=first_on, first_paid=round(approved * 0.7, 2))

    def savings(self, category: str, investment: float) -> Row:
        rng = self.rng
        out: Row = {}
        if category in ENERGY_CATEGORIES:
            tce = round(investment * rng.uniform(0.3, 2.5), 1)
            out.update(energy_saved_tce=tce, co2_cut_t=round(tce * rng.uniform(2.4, 2.6), 1))
        if category in ("节水", "减污"):
            out["water_saved_t"] = round(investment * rng.uniform(20, 200))
        if category in ("减污", "节水"):
            out["cod_cut_t"] = round(rng.uniform(0.1, 20), 2)
        if category in ("清洁能源替代", "减污"):
            out["so2_cut_t"] = round(rng.uniform(0.1, 30), 2)
        return out

    # ------------------------------------------------------------------ training

    def organiser(self, sub: Submission) -> str:
        if sub.kind is SubmitterKind.DISTRICT:
            own = f"{sub.submitter}经贸局"
            return own if self.rng.random() < 0.7 else f"{own}、{ASSOCIATION}"
        return f"广州{sub.submitter}"

    def trainings(self, sub: Submission, with_list: int, loose: int, pool: Sequence[Firm]) -> None:
        """Events numbered in date order; those with a list get named attendees from ``pool``."""
        rng = self.rng
        start = PROGRAMME_START + timedelta(days=30)
        days = sorted(between(rng, start, self.as_of) for _ in range(with_list + loose))
        has_list = [True] * with_list + [False] * loose
        rng.shuffle(has_list)
        for number, (held_on, listed) in enumerate(zip(days, has_list, strict=True), start=1):
            training_type = weighted(
                rng, (("认知推广", 40), ("专题培训", 35), ("现场会", 12), ("经验交流", 13))
            )
            topic = rng.choice(TOPICS[training_type])
            if sub.submitter == "市环保局":
                training_type, topic = "专题培训", MANDATORY_TOPIC
            if training_type == "认知推广" and topic.startswith("清洁生产认知"):
                topic = f"{topic}(第{number}期)"
            row: Row = {
                "training_id": f"{sub.prefix}PX{held_on.year}-{number:02d}",
                "held_on": held_on,
                "topic": topic,
                "training_type": training_type,
                "organiser": self.organiser(sub),
            }
            if listed and pool:
                people = self.attendees(row["training_id"], pool)
                sub.sheet(Attendee).extend(people)
                row["attendance"] = len(people) + rng.randint(0, 25)
            else:
                row["attendance"] = rng.randint(60, 260)
                sub.loose_trainings.append(row)
            sub.sheet(Training).append(row)

    def attendees(self, training_id: str, pool: Sequence[Firm]) -> list[Row]:
        rng = self.rng
        firms = rng.sample(list(pool), min(len(pool), rng.randint(5, 14)))
        rows: list[Row] = []
        for firm in firms:
            names: list[str] = []
            if rng.random() < 0.4:
                titles = HEAD_TITLES.get(firm.category, DEFAULT_HEAD_TITLES)
                rows.append(self.attendee(training_id, firm, firm.head, rng.choice(titles), YES))
                names.append(firm.head)
            for _ in range(rng.choice((1, 1, 1, 2)) if names else rng.choice((1, 1, 2))):
                name = self.person()
                if name not in names:
                    names.append(name)
                    rows.append(self.attendee(training_id, firm, name, rng.choice(STAFF_TITLES), NO))
        return rows

    def attendee(self, training_id: str, firm: Firm, name: str, title: str, head: str) -> Row:
        is_head = head if self.rng.random() < 0.9 else (head if head == YES else None)
        return {
            "training_id": training_id,
            "uscc": firm.uscc,
            "name": name,
            "title": title,
            "is_head": is_head,
        }

    # ------------------------------------------------------------------ submitters

    def new_submission(self, submitter: str, kind: SubmitterKind, sloppiness: float) -> Submission:
        sub = Submission(submitter, kind, template_filename(submitter, self.period), sloppiness)
        self.submissions[submitter] = sub
        return sub

    def district(self, name: str) -> Submission:
        rng = self.rng
        sub = self.new_submission(name, SubmitterKind.DISTRICT, rng.uniform(0.15, 1.0))
        mix = CENTRAL_MIX if name in CENTRAL_DISTRICTS else INDUSTRIAL_MIX
        for _ in range(rng.randint(20, 35)):
            firm = self.firm(name, weighted(rng, mix))
            self.list_as_mandatory(firm)
            sub.firms.append(firm)
        if name in self.behind:
            self.list_laggards(sub)
        loose = rng.randint(2, 3) if name == CSV_DISTRICT else rng.randint(1, 2)
        self.fill(sub, audit_share=0.5, full_share=0.4, trainings=(rng.randint(3, 5), loose))
        return sub

    def agency(self, name: str, sector: str) -> Submission:
        rng = self.rng
        sub = self.new_submission(name, SubmitterKind.AGENCY, rng.uniform(0.1, 0.7))
        low, high = SECTOR_SIZES[sector]
        for _ in range(rng.randint(low, high)):
            sub.firms.append(self.firm(rng.choice(SECTOR_DISTRICTS[sector]), sector))
        share = 0.75 if sector == "星级酒店" else 0.6
        self.fill(sub, audit_share=share, full_share=0.5, trainings=(rng.randint(1, 2), 1))
        return sub

    def fill(
        self, sub: Submission, *, audit_share: float, full_share: float, trainings: tuple[int, int]
    ) -> None:
        """Register the firms, audit some, and keep about a quarter untouched for mistakes."""
        rng = self.rng
        voluntary = [firm for firm in sub.firms if not firm.mandatory]
        sub.bare = rng.sample(voluntary, max(4, round(len(sub.firms) * 0.25)))
        bare_codes = {firm.uscc for firm in sub.bare}
        active = [firm for firm in sub.firms if firm.uscc not in bare_codes]
        sub.sheet(Enterprise).extend(self.enterprise_row(firm) for firm in sub.firms)
        holders = self.title_holders(sub, active)
        for firm in active:
            if firm.mandatory or firm in holders or rng.random() >= audit_share:
                continue  # mandatory firms' audits are reported by 市环保局
            for audit in self.audit_rounds(firm, full_share):
                sub.sheet(Audit).append(audit)
                sub.sheet(Project).extend(self.projects(sub, firm, audit))
        self.trainings(sub, trainings[0], trainings[1], active)

    def environment_bureau(self, name: str) -> Submission:
        """市环保局 reports the audits of the mandatory firms the districts registered."""
        sub = self.new_submission(name, SubmitterKind.AGENCY, self.rng.uniform(0.1, 0.5))
        listed = [
            firm
            for district in self.profile.districts
            for firm in self.submissions[district].firms
            if firm.mandatory
        ]
        lags = self.lagging_firms(listed)
        for firm in listed:
            sub.sheet(Audit).append(self.mandatory_audit(firm, lags.get(firm)))
        sub.sheet(Enterprise)
        self.trainings(sub, self.rng.randint(1, 2), 0, listed)
        return sub

    # ------------------------------------------------------------------ the office

    def consultants_rows(self) -> list[Row]:
        rng = self.rng
        statuses = [AGENCY_ACTIVE] * 9 + ["暂停", "退出"]
        rows = []
        for status in statuses:
            name = self.unique_name(lambda brand: rng.choice(CONSULTANT_PATTERNS).format(brand=brand))
            division = rng.choice((CITY_DIVISION, *DIVISION_CODES.values()))
            rows.append(
                {
                    "name": name,
                    "uscc": self.credit_code(division),
                    "contact": self.person(),
                    "phone": self.landline(),
                    "status": status,
                }
            )
        return rows

    def expert_rows(self) -> list[Row]:
        rng = self.rng
        firms = [firm for sub in self.submissions.values() for firm in sub.active_firms()]
        consultants = [row["name"] for row in self.consultants]
        rows = []
        for number in range(1, rng.randint(58, 64) + 1):
            roll = rng.random()
            related: list[str] = []
            if roll < 0.25:
                employer, district = rng.choice(consultants), None
            elif roll < 0.35:
                firm = rng.choice(firms)
                employer, district = firm.name, firm.district
            else:
                employer, district = rng.choice(EXPERT_EMPLOYERS)
                if rng.random() < 0.25:
                    related.append(rng.choice(consultants))
            if rng.random() < 0.12:
                related.append(rng.choice(firms).uscc)
            rows.append(
                {
                    "expert_id": f"ZJ{number:03d}",
                    "name": self.person(),
                    "employer": employer,
                    "district": district if rng.random() < 0.8 else None,
                    "industry_fields": self.expert_fields(),
                    "specialties": self.specialties(),
                    "title": rng.choice(EXPERT_TITLES),
                    "related": "、".join(related) or None,
                    "status": weighted(rng, ((EXPERT_ACTIVE, 85), ("暂停", 10), ("退出", 5))),
                    "phone": self.mobile() if rng.random() < 0.7 else self.landline(),
                }
            )
        return rows

    def expert_fields(self) -> str:
        rng = self.rng
        sections: list[str] = []
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            section = weighted(rng, EXPERT_SECTIONS)
            if section not in sections:
                sections.append(section)
        style = rng.random()
        if style < 0.6:
            return "、".join(sections)
        if style < 0.85:
            return "、".join(section.split(" ", 1)[0] for section in sections)
        return "、".join(section.split(" ", 1)[1] for section in sections[:1])

    def specialties(self) -> str:
        chosen: list[str] = []
        for _ in range(self.rng.choice((1, 2, 2, 3))):
            specialty = weighted(self.rng, SPECIALTY_WEIGHTS)
            if specialty not in chosen:
                chosen.append(specialty)
        return "、".join(chosen)

    def target_rows(self) -> list[Row]:
        """Targets a little above what each district has done, so completion reads 70–100%."""
        rng = self.rng
        rows: list[Row] = []
        totals: dict[str, float] = {}
        for district in self.profile.districts:
            for metric, done in self.tally(self.submissions[district]).items():
                value = max(1, round(done * rng.uniform(1.0, 1.35)))
                totals[metric] = totals.get(metric, 0) + value
                rows.append({"year": TARGET_YEAR, "district": district, "metric": metric, "value": value})
        for metric in DISTRICT_METRICS:
            rows.append(
                {"year": TARGET_YEAR, "district": CITY_WIDE, "metric": metric, "value": totals[metric]}
            )
        extras = (("园区审核率", 90), ("强制审核完成数", 12), ("星级酒店审核数", 15), ("农业示范企业数", 4))
        for metric, value in extras:
            rows.append({"year": TARGET_YEAR, "district": CITY_WIDE, "metric": metric, "value": value})
        return rows

    def tally(self, sub: Submission) -> dict[str, float]:
        audits = sub.rows.get(Audit.sheet_name, [])
        projects = sub.rows.get(Project.sheet_name, [])
        trainings = sub.rows.get(Training.sheet_name, []) + sub.csv_rows
        people = sub.rows.get(Attendee.sheet_name, [])
        return {
            "覆盖企业数": len(sub.firms),
            "启动审核企业数": len({row["uscc"] for row in audits if row["method"] == AUDIT_FULL}),
            "通过验收企业数": sum(1 for row in audits if row.get("acceptance") == ACCEPTANCE_PASSED),
            "实地评估企业数": sum(1 for row in audits if row["method"] == AUDIT_ONSITE),
            "技改项目数": len(projects),
            "年节能量": sum(row.get("energy_saved_tce") or 0 for row in projects),
            "培训期数": len(trainings),
            "培训人次": sum(row["attendance"] for row in trainings),
            "参训企业数": len({row["uscc"] for row in people}),
            "正职参训企业数": len({row["uscc"] for row in people if row.get("is_head") == YES}),
        }

    def office(self, name: str) -> Submission:
        sub = self.new_submission(name, SubmitterKind.OFFICE, 0.1)
        sub.sheet(Expert).extend(self.expert_rows())
        sub.sheet(ConsultingAgency).extend(self.consultants)
        sub.sheet(Target).extend(self.target_rows())
        return sub

    # ------------------------------------------------------------------ the whole drive

    def build(self) -> DemoDrive:
        self.plan_lateness()
        self.consultants = self.consultants_rows()
        for district in self.profile.districts:
            self.district(district)
        for agency in self.profile.agencies:
            if agency.sector:
                self.agency(agency.name, agency.sector[0])
        for agency in self.profile.agencies:
            if agency.mandatory:
                self.environment_bureau(agency.name)
        self.move_loose_trainings_to_csv(self.submissions[CSV_DISTRICT])
        self.office(self.profile.office)
        planter = MistakePlanter(self)
        planter.plant_rows()
        files = self.write_all()
        files += planter.plant_files()
        return self.result(sorted(files))

    def move_loose_trainings_to_csv(self, sub: Submission) -> None:
        """Events nobody's attendee row names, so the csv may be read in any order."""
        moved = sub.loose_trainings
        sub.csv_rows = moved
        sub.rows[Training.sheet_name] = [
            row for row in sub.sheet(Training) if not any(row is other for other in moved)
        ]
        sub.loose_trainings = []

    def write_all(self) -> list[Path]:
        files: list[Path] = []
        for sub in self.submissions.values():
            files.append(self.write_submission(sub))
            if sub.csv_rows:
                files.append(self.write_csv(sub))
        return files

    def folder(self, submitter: str) -> Path:
        return self.root / "inbox" / submitter

    def write_submission(self, sub: Submission, *, path: Path | None = None) -> Path:
        dresser = Dresser(self.rng, sub.sloppiness)
        rows = {
            sheet: [to_headers(model_of(sheet), dresser.row(model_of(sheet), row)) for row in sheet_rows]
            for sheet, sheet_rows in sub.rows.items()
        }
        target = path or self.folder(sub.submitter) / sub.file_name
        write_template(
            target,
            submitter=sub.submitter,
            kind=sub.kind,
            period=self.period,
            profile=self.profile.name,
            rows=rows,
            generated_on=self.as_of - timedelta(days=self.rng.randint(0, 3)),
        )
        return target

    def write_csv(self, sub: Submission) -> Path:
        """Excel on a Chinese Windows saves csv as GBK with CRLF line ends and no stamp."""
        dresser = Dresser(self.rng, sub.sloppiness, text_only=True)
        columns = list(Training.columns().values())
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(column.header for column in columns)
        for row in sub.csv_rows:
            dressed = dresser.row(Training, row)
            writer.writerow(
                "" if dressed.get(name) is None else str(dressed[name]) for name in Training.columns()
            )
        path = self.folder(sub.submitter) / GBK_TRAINING_CSV
        path.write_bytes(buffer.getvalue().encode("gbk"))
        return path

    def result(self, files: list[Path]) -> DemoDrive:
        broken = set(self.broken_firms)
        healthy = [
            firm.uscc for sub in self.submissions.values() for firm in sub.firms if firm.uscc not in broken
        ]
        return DemoDrive(
            root=self.root,
            files=files,
            mistakes=list(self.mistakes),
            enterprise_count=len(set(healthy)),
            credit_codes=frozenset(healthy),
            bad_codes=frozenset(self.bad_codes),
            period=self.period,
            as_of=self.as_of,
            seed=self.seed,
            behind=self.behind,
        )


def model_of(sheet_name: str) -> type[SheetModel]:
    return SHEETS_BY_NAME[sheet_name]


# ---------------------------------------------------------------------------- untidy typing


class Dresser:
    """Turns clean values into what a hand-typed workbook holds, never into something invalid."""

    TEXT_FIELDS = frozenset(
        {"name", "contact", "district", "park", "topic", "organiser", "employer", "agency"}
    )

    def __init__(self, rng: random.Random, sloppiness: float, *, text_only: bool = False) -> None:
        self.rng = rng
        self.sloppiness = sloppiness
        self.text_only = text_only

    def chance(self, share: float) -> bool:
        return self.rng.random() < share * self.sloppiness

    def row(self, model: type[SheetModel], row: Row) -> Row:
        return {name: self.value(name, value) for name, value in row.items()}

    def value(self, name: str, value: Any) -> Any:
        match value:
            case bool() | None:
                return value
            case date():
                return self.day(value)
            case int() if name in ("round", "attendance", "value") or name.endswith("_t"):
                return self.number(value)
            case int():
                return str(value) if self.text_only else value
            case float():
                return self.number(value)
            case str() if name in self.TEXT_FIELDS and self.chance(0.1):
                return self.rng.choice((f" {value}", f"{value} ", f"{value}\u3000"))
        return value

    def day(self, day: date) -> Any:
        forms = (
            f"{day.year}-{day.month}-{day.day}",
            f"{day.year}/{day.month:02d}/{day.day:02d}",
            f"{day.year}年{day.month}月{day.day}日",
            f"{day.year}.{day.month}.{day.day}",
        )
        if self.text_only:
            return self.rng.choice(forms[:3])
        if not self.chance(0.45):
            return day
        if self.rng.random() < 0.15:
            return excel_serial(day)
        return self.rng.choice(forms)

    def number(self, value: float | int) -> Any:
        text = f"{value:,}" if isinstance(value, int) else f"{value:,.2f}".rstrip("0").rstrip(".")
        plain = text.replace(",", "")
        if self.text_only:
            return plain
        if not self.chance(0.25):
            return value
        roll = self.rng.random()
        if roll < 0.4:
            return text  # thousands separators, typed as text
        if roll < 0.7:
            return plain.translate(FULL_WIDTH)
        return f" {plain} "


# ---------------------------------------------------------------------------- post-edits


def edit_workbook(path: Path, edits: Iterable[Callable[[OpenpyxlWorkbook], None]]) -> None:
    """What a submitter does to the template by hand in Excel, replayed with openpyxl."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        book = openpyxl.load_workbook(path)
    for edit in edits:
        edit(book)
    book.save(path)


def header_column(sheet: OpenpyxlWorksheet, header: str) -> int:
    for cell in sheet[1]:
        if isinstance(cell.value, str) and canonical(cell.value).lstrip("*") == canonical(header):
            return cell.column
    raise KeyError(f"no header {header!r} in sheet {sheet.title!r}")


def rename_header(sheet_name: str, header: str, typo: str) -> Callable[[OpenpyxlWorkbook], None]:
    def edit(book: OpenpyxlWorkbook) -> None:
        sheet = book[sheet_name]
        cell = sheet.cell(1, header_column(sheet, header))
        cell.value = str(cell.value).replace(header, typo)

    return edit


def delete_column(sheet_name: str, header: str) -> Callable[[OpenpyxlWorkbook], None]:
    def edit(book: OpenpyxlWorkbook) -> None:
        sheet = book[sheet_name]
        sheet.delete_cols(header_column(sheet, header))

    return edit


def append_column(sheet_name: str, header: str, values: Sequence[str]) -> Callable[[OpenpyxlWorkbook], None]:
    def edit(book: OpenpyxlWorkbook) -> None:
        sheet = book[sheet_name]
        col = len(model_of(sheet_name).columns()) + 1
        sheet.cell(1, col, header)
        for offset, value in enumerate(values, start=2):
            sheet.cell(offset, col, value)

    return edit


def add_sheet(title: str, rows: Sequence[Sequence[Any]]) -> Callable[[OpenpyxlWorkbook], None]:
    def edit(book: OpenpyxlWorkbook) -> None:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))

    return edit


def drop_sheet(title: str) -> Callable[[OpenpyxlWorkbook], None]:
    def edit(book: OpenpyxlWorkbook) -> None:
        del book[title]

    return edit


def set_stamp(label: str, value: str) -> Callable[[OpenpyxlWorkbook], None]:
    def edit(book: OpenpyxlWorkbook) -> None:
        sheet = book[STAMP_SHEET]
        for row in sheet.iter_rows():
            if row[0].value == label:
                row[1].value = value
                return
        raise KeyError(label)

    return edit


# ---------------------------------------------------------------------------- planted mistakes


class MistakePlanter:
    """Breaks a few rows and files on purpose, and writes down each one with its expected code.

    Rows are broken only where nothing else refers to them (a firm with no audits, an event with
    no attendee list), so each mistake costs exactly the row it sits in and no others.
    """

    def __init__(self, builder: DemoBuilder) -> None:
        self.b = builder
        self.rng = builder.rng
        # id() of rows already broken, one mistake per row; rows that show lateness count as used
        self.used: list[int] = [id(row) for row in builder.kept]
        # sheets the file-level plants drop as a whole: a row mistake there would never be seen
        self.dropped = {("市农业局", Project.sheet_name)}

    # ------------------------------------------------------------------ bookkeeping

    def record(self, sub: Submission, sheet: str | None, code: str, *, file_name: str | None = None) -> None:
        self.b.mistakes.append(Mistake(sub.submitter, file_name or sub.file_name, sheet, code))

    def field_subs(self, model: type[SheetModel]) -> list[Submission]:
        return [
            sub
            for sub in self.b.submissions.values()
            if sub.kind is not SubmitterKind.OFFICE
            and sub.rows.get(model.sheet_name)
            and (sub.submitter, model.sheet_name) not in self.dropped
        ]

    def pick_row(
        self, model: type[SheetModel], accept: Callable[[Submission, Row], bool]
    ) -> tuple[Submission, Row]:
        candidates = [
            (sub, row)
            for sub in self.field_subs(model)
            for row in sub.rows[model.sheet_name]
            if id(row) not in self.used and accept(sub, row)
        ]
        sub, row = self.rng.choice(candidates)
        self.used.append(id(row))
        return sub, row

    def bare_firm_row(self, kind: SubmitterKind | None = None) -> tuple[Submission, Row]:
        subs = [sub for sub in self.field_subs(Enterprise) if sub.bare and kind in (None, sub.kind)]
        sub = self.rng.choice(subs)
        firm = sub.bare.pop(self.rng.randrange(len(sub.bare)))
        row = next(row for row in sub.sheet(Enterprise) if row["uscc"] == firm.uscc)
        self.used.append(id(row))
        return sub, row

    def break_firm(self, code: str, change: Callable[[Row], None]) -> None:
        sub, row = self.bare_firm_row()
        self.b.broken_firms.append(row["uscc"])
        change(row)
        self.record(sub, Enterprise.sheet_name, code)

    def break_row(
        self,
        model: type[SheetModel],
        code: str,
        change: Callable[[Row], None],
        accept: Callable[[Submission, Row], bool] = lambda sub, row: True,
    ) -> None:
        sub, row = self.pick_row(model, accept)
        change(row)
        self.record(sub, model.sheet_name, code)

    def bad_code(self, text: str) -> str:
        self.b.bad_codes.append(text)
        return text

    # ------------------------------------------------------------------ rows

    def plant_rows(self) -> None:
        self.enterprise_mistakes()
        self.audit_mistakes()
        self.project_mistakes()
        self.training_mistakes()
        self.attendee_mistakes()
        self.office_mistakes()

    def enterprise_mistakes(self) -> None:
        rng = self.rng
        for _ in range(2):
            self.break_firm(
                "uscc-checksum", lambda row: row.update(uscc=self.bad_code(checksum_typo(row["uscc"], rng)))
            )
            self.break_firm(
                "uscc-format", lambda row: row.update(uscc=self.bad_code(format_typo(row["uscc"], rng)))
            )
            self.break_firm(
                "not-in-choices", lambda row: row.update(category=rng.choice(("工业企业", "商贸企业")))
            )
            self.break_firm(
                "required-when",
                lambda row: row.update(
                    audit_type=AUDIT_MANDATORY, mandatory_reason="超标排放", mandatory_listed_on=None
                ),
            )
            self.duplicate_firm()
        self.break_firm("required", lambda row: row.update(name=None))
        self.break_firm("required", lambda row: row.update(district=None))
        self.moved_firm()
        self.break_firm("not-a-phone", lambda row: row.update(phone="待补充"))
        self.break_firm("excel-error", lambda row: row.update(industry_code="#N/A"))
        self.break_firm(
            "too-long",
            lambda row: row.update(
                industry_code=row["industry_code"] + "1" if row.get("industry_code") else "36701"
            ),
        )

    def moved_firm(self) -> None:
        """A firm that moved to another district, still in its old district's list: not its to report."""
        sub, row = self.bare_firm_row(SubmitterKind.DISTRICT)
        elsewhere = self.rng.choice([name for name in self.b.profile.districts if name != sub.submitter])
        row.update(district=elsewhere, remark=f"已搬迁至{elsewhere}")
        self.b.broken_firms.append(row["uscc"])
        self.record(sub, Enterprise.sheet_name, "not-owner")

    def duplicate_firm(self) -> None:
        """The same firm entered twice, the second time under its trading name: the copy is rejected."""
        sub, row = self.bare_firm_row()
        copy = dict(row, name=row["name"].replace("有限公司", "") or row["name"])
        rows = sub.sheet(Enterprise)
        rows.insert(index_of(rows, row) + self.rng.randint(1, 5), copy)
        self.used.append(id(copy))
        self.record(sub, Enterprise.sheet_name, "duplicate-key")

    def audit_mistakes(self) -> None:
        rng = self.rng

        def has(*names: str) -> Callable[[Submission, Row], bool]:
            return lambda sub, row: all(row.get(name) is not None for name in names)

        self.break_row(Audit, "not-a-date", lambda row: row.update(started_on="2014-13-45"))
        self.break_row(
            Audit,
            "not-a-date",
            lambda row: row.update(accepted_on="下月", acceptance=None),
            has("evaluated_on"),
        )
        for _ in range(2):
            self.break_row(
                Audit,
                "date-order",
                # no contract date either, so the row breaks one rule once
                lambda row: row.update(
                    report_on=row["started_on"] - timedelta(days=rng.randint(5, 40)), contract_filed_on=None
                ),
                has("report_on"),
            )
        self.break_row(Audit, "out-of-range", lambda row: row.update(round=0))
        self.break_row(Audit, "not-in-choices", lambda row: row.update(method="现场评估"))
        self.break_row(Audit, "required", lambda row: row.update(method=None))
        self.break_row(Audit, "required-when", lambda row: row.update(evaluated_on=None), has("grade"))
        bureau = self.b.submissions["市环保局"]
        stranger = self.b.credit_code(rng.choice(tuple(DIVISION_CODES.values())))
        started = between(rng, date(2014, 1, 1), self.b.as_of - timedelta(days=30))
        bureau.sheet(Audit).append(self.b.lifecycle(stranger, 1, AUDIT_FULL, started))
        self.record(bureau, Audit.sheet_name, "unknown-reference")

    def project_mistakes(self) -> None:
        rng = self.rng

        def has(*names: str) -> Callable[[Submission, Row], bool]:
            return lambda sub, row: all(row.get(name) is not None for name in names)

        for text in ("约20万", "待定"):
            self.break_row(Project, "not-a-number", lambda row, text=text: row.update(investment=text))
        for _ in range(2):
            self.break_row(
                Project,
                "amount-exceeds",
                lambda row: row.update(subsidy_approved=round(row["investment"] * rng.uniform(1.1, 1.5), 2)),
                has("subsidy_requested"),
            )
        self.break_row(
            Project,
            "date-order",
            lambda row: row.update(finished_on=row["started_on"] - timedelta(days=rng.randint(10, 90))),
            has("finished_on"),
        )
        self.break_row(
            Project, "required-when", lambda row: row.update(first_paid_on=None), has("first_paid")
        )
        self.break_row(
            Project, "out-of-range", lambda row: row.update(energy_saved_tce=-15), has("energy_saved_tce")
        )
        sub, row = self.pick_row(Project, lambda sub, row: True)
        rows = sub.sheet(Project)
        copy = dict(row, name=row["name"] + "(二期)")
        rows.insert(index_of(rows, row) + 1, copy)
        self.used.append(id(copy))
        self.record(sub, Project.sheet_name, "duplicate-key")
        sub, row = self.pick_row(Project, lambda sub, row: True)
        row["uscc"] = self.b.credit_code(DIVISION_CODES[rng.choice(self.b.profile.districts)])
        self.record(sub, Project.sheet_name, "unknown-reference")

    def training_mistakes(self) -> None:
        def loose(sub: Submission, row: Row) -> bool:
            return any(row is other for other in sub.loose_trainings)

        self.break_row(Training, "not-a-date", lambda row: row.update(held_on="下月"), loose)
        self.break_row(Training, "not-an-integer", lambda row: row.update(attendance="45.5"), loose)
        self.break_row(Training, "too-long", lambda row: row.update(topic=LONG_TOPIC * 4), loose)
        self.break_row(Training, "required", lambda row: row.update(held_on=None), loose)
        self.break_row(Training, "not-a-number", lambda row: row.update(attendance="约50人"), loose)
        sub, row = self.pick_row(Training, loose)
        rows = sub.sheet(Training)
        rows.insert(index_of(rows, row) + 1, dict(row, topic=row["topic"] + "(补充)"))
        self.record(sub, Training.sheet_name, "duplicate-key")

    def attendee_mistakes(self) -> None:
        rng = self.rng
        for _ in range(2):
            self.break_row(
                Attendee,
                "unknown-reference",
                lambda row: row.update(training_id=row["training_id"][:-2] + "99"),
            )
        self.break_row(Attendee, "not-in-choices", lambda row: row.update(is_head="正职"))
        self.break_row(Attendee, "required", lambda row: row.update(name=None))
        self.break_row(
            Attendee,
            "uscc-checksum",
            lambda row: row.update(uscc=self.bad_code(checksum_typo(row["uscc"], rng))),
        )
        sub, row = self.pick_row(Attendee, lambda sub, row: True)
        rows = sub.sheet(Attendee)
        copy = dict(row)
        rows.insert(index_of(rows, row) + 1, copy)
        self.used.append(id(copy))
        self.record(sub, Attendee.sheet_name, "duplicate-key")

    def office_mistakes(self) -> None:
        rng = self.rng
        office = self.b.submissions[self.b.profile.office]
        experts = office.sheet(Expert)
        first, second, third, fourth, fifth = rng.sample(experts, 5)
        second["expert_id"] = first["expert_id"]
        self.record(office, Expert.sheet_name, "duplicate-key")
        third["specialties"] = "电气、节能"
        self.record(office, Expert.sheet_name, "not-in-choices")
        fourth["employer"] = None
        self.record(office, Expert.sheet_name, "required")
        fifth["phone"] = "见通讯录"
        self.record(office, Expert.sheet_name, "not-a-phone")
        # only agencies no audit names are broken
        paused = next(row for row in office.sheet(ConsultingAgency) if row["status"] == "暂停")
        paused["status"] = "注销"
        self.record(office, ConsultingAgency.sheet_name, "not-in-choices")
        retired = next(row for row in office.sheet(ConsultingAgency) if row["status"] == "退出")
        retired["uscc"] = self.bad_code(checksum_typo(retired["uscc"], rng))
        self.record(office, ConsultingAgency.sheet_name, "uscc-checksum")
        targets = office.sheet(Target)
        rate = next(row for row in targets if row["metric"] == "园区审核率")
        rate["value"] = "90%"
        self.record(office, Target.sheet_name, "not-a-number")
        targets.append({"year": TARGET_YEAR, "district": CITY_WIDE, "metric": "清洁生产企业数", "value": 300})
        self.record(office, Target.sheet_name, "not-in-choices")

    # ------------------------------------------------------------------ files

    def plant_files(self) -> list[Path]:
        """File-level mistakes: edits replayed on written templates, and stray files."""
        subs = self.b.submissions
        self.edit(subs["市农业局"], rename_header(Project.sheet_name, "项目名称", "项目明称"))
        self.record(subs["市农业局"], Project.sheet_name, "unknown-header")
        self.record(subs["市农业局"], Project.sheet_name, "missing-header")
        self.edit(subs["花都区"], delete_column(Enterprise.sheet_name, "备注"))
        self.record(subs["花都区"], Enterprise.sheet_name, "missing-optional-header")
        statuses = [row.get("status") or "" for row in subs["市旅游局"].sheet(Project)]
        self.edit(
            subs["市旅游局"],
            append_column(Project.sheet_name, "项目状态", [f"{s}(局内统计)" for s in statuses]),
        )
        self.record(subs["市旅游局"], Project.sheet_name, "duplicate-header")
        self.edit(subs["市城乡建委"], drop_sheet(STAMP_SHEET))
        self.record(subs["市城乡建委"], None, "missing-stamp")
        self.edit(subs["市交委"], set_stamp("填报期间", "十一月份"))
        self.record(subs["市交委"], STAMP_SHEET, "not-a-period")
        self.edit(subs["天河区"], add_sheet("汇总", self.summary_rows(subs["天河区"])))
        self.record(subs["天河区"], "汇总", "unknown-sheet")
        self.edit(subs["番禺区"], add_sheet(Expert.sheet_name, self.local_experts(subs["番禺区"])))
        self.record(subs["番禺区"], Expert.sheet_name, "sheet-not-allowed")
        return [
            self.misplaced_file(subs["海珠区"], subs["荔湾区"]),
            self.unknown_submitter_file("市科信局"),
            self.unreadable_file(subs["从化市"]),
            self.unsupported_file(subs["天河区"]),
            self.own_format_file(subs["白云区"]),
        ]

    def edit(self, sub: Submission, change: Callable[[OpenpyxlWorkbook], None]) -> None:
        path = self.b.folder(sub.submitter) / sub.file_name
        edit_workbook(path, [change])

    def summary_rows(self, sub: Submission) -> list[list[Any]]:
        counts: dict[str, int] = {}
        for firm in sub.firms:
            counts[firm.category] = counts.get(firm.category, 0) + 1
        return [
            [f"{sub.submitter}清洁生产企业分类汇总(自用)"],
            ["企业类别", "家数"],
            *[[k, v] for k, v in counts.items()],
        ]

    def local_experts(self, sub: Submission) -> list[list[Any]]:
        rows: list[list[Any]] = [[column.header for column in Expert.columns().values()]]
        for number in range(1, 4):
            employer, district = self.rng.choice(EXPERT_EMPLOYERS)
            rows.append(
                [
                    f"PY{number:02d}",
                    self.b.person(),
                    employer,
                    district,
                    C,
                    "工艺、节能",
                    "高级工程师",
                    None,
                    "在库",
                    self.b.mobile(),
                ]
            )
        return rows

    def misplaced_file(self, owner: Submission, host: Submission) -> Path:
        """海珠区's late additions, saved into 荔湾区's folder: the stamp gives it away."""
        extra = Submission(owner.submitter, owner.kind, owner.file_name, owner.sloppiness)
        extra.project_count = 50
        active = owner.active_firms()
        self.b.trainings(extra, 1, 0, active)
        for row in extra.sheet(Training):
            row["training_id"] = row["training_id"].replace("PX", "PXB")
        for row in extra.sheet(Attendee):
            row["training_id"] = row["training_id"].replace("PX", "PXB")
        name = Path(owner.file_name).stem + "(补报).xlsx"
        path = self.b.write_submission(extra, path=self.b.folder(host.submitter) / name)
        self.record(host, STAMP_SHEET, "submitter-mismatch", file_name=name)
        return path

    def unknown_submitter_file(self, stranger: str) -> Path:
        """The notice's co-issuer sends its own events, though it is no submitter of the programme."""
        sub = Submission(stranger, SubmitterKind.AGENCY, template_filename(stranger, self.b.period), 0.2)
        self.b.trainings(sub, 0, 1, [])
        path = self.b.write_submission(sub)
        self.record(sub, None, "unknown-submitter")
        return path

    def unreadable_file(self, sub: Submission) -> Path:
        """Last month's file exported from an old system as tab-separated text, named .xlsx."""
        previous = period_of(self.b.as_of.replace(day=1) - timedelta(days=1), self.b.profile.reporting)
        name = template_filename(sub.submitter, previous)
        lines = ["企业名称\t统一社会信用代码\t联系人"]
        lines += [f"{firm.name}\t{firm.uscc}\t{firm.contact}" for firm in sub.firms[:8]]
        path = self.b.folder(sub.submitter) / name
        path.write_bytes("\r\n".join(lines).encode("gbk"))
        self.record(sub, None, "unreadable-file", file_name=name)
        return path

    def unsupported_file(self, sub: Submission) -> Path:
        """A work report in Word, dropped next to the workbook."""
        name = f"{sub.submitter}2014年清洁生产工作总结.docx"
        path = self.b.folder(sub.submitter) / name
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            info = zipfile.ZipInfo("word/document.xml", date_time=(2014, 11, 28, 9, 0, 0))
            body = f"<w:document><w:body><w:p><w:t>{sub.submitter}2014年清洁生产工作总结</w:t></w:p></w:body></w:document>"
            archive.writestr(info, body)
        path.write_bytes(buffer.getvalue())
        self.record(sub, None, "unsupported-file", file_name=name)
        return path

    def own_format_file(self, sub: Submission) -> Path:
        """A list kept in the district's own layout: no contract sheet in it at all."""
        name = f"{sub.submitter}重点企业名单(自编).xlsx"
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = "Sheet1"
        sheet.append(["序号", "企业名称", "地址", "联系人", "联系电话"])
        for number, firm in enumerate(sub.firms[:12], start=1):
            sheet.append(
                [
                    number,
                    firm.name,
                    f"广州市{sub.submitter}{self.rng.randint(1, 999)}号",
                    firm.contact,
                    firm.phone,
                ]
            )
        path = self.b.folder(sub.submitter) / name
        book.save(path)
        self.record(sub, None, "no-contract-sheet", file_name=name)
        self.record(sub, None, "missing-stamp", file_name=name)
        self.record(sub, "Sheet1", "unknown-sheet", file_name=name)
        return path


# ---------------------------------------------------------------------------- entry point


def build_demo_drive(root: Path, *, seed: int = DEFAULT_SEED, as_of: date = DEFAULT_AS_OF) -> DemoDrive:
    """Lay out ``root/inbox/<submitter>/<file>`` for the guangzhou-2013 profile.

    The same ``seed`` and ``as_of`` always give the same cells, so a demo or a test that went
    wrong can be rebuilt exactly.
    """
    if as_of < EARLIEST_AS_OF:
        raise ValueError(f"演示基准日期不能早于 {EARLIEST_AS_OF}(方案自 2013 年中开始,需有一年进展)")
    profile = load_profile(PROFILE_NAME)
    return DemoBuilder(Path(root), seed=seed, as_of=as_of, profile=profile).build()
