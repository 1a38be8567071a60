"""Expert panel draws kept in the register, so anyone can re-run one years later and get the same panel.

A draw is only trustworthy if it can be checked by someone who did not make it. Each record
therefore keeps, next to the panel, everything :func:`draw_panel` was given: the expert pool,
the enterprise, its latest audit, the agencies, the earlier panels that decide cool-down and
avoidance, the panel rules and the seed. The draw itself is computed from that very snapshot,
so a verification re-runs exactly what the office ran, however the register has changed since.
Records are only ever added; a shortage writes nothing, so there is never a partial panel.
"""

from __future__ import annotations

import json
import secrets
import unicodedata
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import (
    Column,
    Connection,
    Date,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

from sheetsync.domain.panels import (
    PURPOSE_ACCEPTANCE,
    PURPOSE_EVALUATION,
    PanelDraw,
    PanelShortage,
    PastPanel,
    draw_panel,
)
from sheetsync.profile import PanelRules, Profile
from sheetsync.schemas import Audit, ConsultingAgency, Enterprise, Expert
from sheetsync.store import Register, Timestamp, create_tables, dumps, encode_key

PURPOSES: tuple[str, ...] = (PURPOSE_EVALUATION, PURPOSE_ACCEPTANCE)
SEED_BITS = 63  # fits a signed 64-bit integer, so any tool reading the register can hold it
ID_PREFIX = "P"

# The 专家抽取记录 sheet of the master workbook, in this order.
MASTER_COLUMNS: tuple[str, ...] = (
    "抽取编号",
    "抽取时间",
    "企业",
    "用途",
    "随机种子",
    "专家组",
    "候补",
    "回避及原因",
)

panels_metadata = MetaData()

panels_table = Table(
    "panels",
    panels_metadata,
    Column("id", Integer, primary_key=True),
    Column("panel_id", String(32), nullable=False, unique=True),
    Column("drawn_at", Timestamp, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("seed", Text, nullable=False),  # decimal text: seeds may exceed any integer column
    Column("uscc", String(18), nullable=False),
    Column("enterprise_name", String, nullable=True),
    Column("purpose", String, nullable=False),
    Column("size", Integer, nullable=False),
    Column("profile", String, nullable=False),
    Column("inputs_json", Text, nullable=False),  # what draw_panel was given: see DrawInputs
    Column("people_json", Text, nullable=False),  # names and employers of everyone listed below
    Column("candidates_json", Text, nullable=False),
    Column("exclusions_json", Text, nullable=False),
    Column("deferred_json", Text, nullable=False),
    Column("order_json", Text, nullable=False),
    Column("seats_json", Text, nullable=False),
    Column("panel_json", Text, nullable=False),
    Column("reserves_json", Text, nullable=False),
    Index("ix_panels_uscc", "uscc"),
)

_ready_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


class PanelInputError(ValueError):
    """The draw cannot start: the request or the register lacks something. The text is Chinese."""


class PanelNotFound(PanelInputError):
    """No recorded draw has this id."""


# Data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawInputs:
    """Everything a draw depends on besides the seed, as JSON-mode data so it survives storage exactly."""

    rules: dict[str, Any]
    experts: tuple[dict[str, Any], ...]
    enterprise: dict[str, Any]
    audit: dict[str, Any] | None
    agencies: tuple[dict[str, Any], ...]
    history: tuple[PastPanel, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": self.rules,
            "experts": list(self.experts),
            "enterprise": self.enterprise,
            "audit": self.audit,
            "agencies": list(self.agencies),
            "history": [
                {"uscc": past.uscc, "drawn_on": past.drawn_on.isoformat(), "members": list(past.members)}
                for past in self.history
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DrawInputs:
        return cls(
            rules=data["rules"],
            experts=tuple(data["experts"]),
            enterprise=data["enterprise"],
            audit=data["audit"],
            agencies=tuple(data["agencies"]),
            history=tuple(
                PastPanel(item["uscc"], date.fromisoformat(item["drawn_on"]), tuple(item["members"]))
                for item in data["history"]
            ),
        )


@dataclass(frozen=True)
class ExpertBrief:
    """What an officer needs to recognise an expert in a record: the rest stays in the snapshot."""

    expert_id: str
    name: str
    employer: str
    specialties: tuple[str, ...]

    def label(self) -> str:
        return f"{self.expert_id} {self.name}".strip()


@dataclass(frozen=True)
class PanelRecord:
    """One recorded draw; the ``*_text`` properties are the master sheet's cells."""

    panel_id: str
    drawn_at: datetime
    as_of: date
    seed: int
    uscc: str
    enterprise_name: str
    purpose: str
    size: int
    profile_name: str
    candidates: tuple[str, ...]
    exclusions: tuple[tuple[str, str], ...]
    deferred: tuple[tuple[str, str], ...]
    order: tuple[str, ...]
    seats: tuple[tuple[str, str], ...]
    panel: tuple[str, ...]
    reserves: tuple[str, ...]
    people: dict[str, ExpertBrief] = field(default_factory=dict, compare=False)

    def brief(self, expert_id: str) -> ExpertBrief:
        return self.people.get(expert_id) or ExpertBrief(expert_id, "", "", ())

    def seat_of(self, expert_id: str) -> str | None:
        return next((seat for seat, holder in self.seats if holder == expert_id), None)

    @property
    def enterprise(self) -> str:
        return f"{self.enterprise_name}({self.uscc})" if self.enterprise_name else self.uscc

    @property
    def drawn_at_text(self) -> str:
        return self.drawn_at.strftime("%Y-%m-%d %H:%M:%S")

    @property
    def seed_text(self) -> str:
        return str(self.seed)

    @property
    def panel_text(self) -> str:
        return "、".join(self.brief(expert_id).label() for expert_id in self.panel)

    @property
    def reserves_text(self) -> str:
        return "、".join(self.brief(expert_id).label() for expert_id in self.reserves)

    @property
    def exclusions_text(self) -> str:
        return ";".join(f"{self.brief(expert_id).label()}:{reason}" for expert_id, reason in self.exclusions)

    @property
    def deferred_text(self) -> str:
        return ";".join(f"{self.brief(expert_id).label()}:{reason}" for expert_id, reason in self.deferred)

    def master_row(self) -> tuple[str, ...]:
        """The cells of :data:`MASTER_COLUMNS`, all text so long seeds keep every digit in Excel."""
        return (
            self.panel_id,
            self.drawn_at_text,
            self.enterprise,
            self.purpose,
            self.seed_text,
            self.panel_text,
            self.reserves_text,
            self.exclusions_text,
        )


@dataclass(frozen=True)
class VerifyResult:
    """Whether re-running a recorded draw gives the recorded result, and if not, every difference."""

    record: PanelRecord
    redrawn: PanelDraw | None
    differences: tuple[str, ...]

    @property
    def matches(self) -> bool:
        return not self.differences


# Table and rows -----------------------------------------------------------------------------


def ensure_table(register: Register, conn: Connection | None = None) -> None:
    """Create the panels table the first time a register is used for panels; store.py stays unaware.

    Inside a caller's transaction the table is created on that connection: a second
    connection would wait on the caller's own write lock.
    """
    if register.engine in _ready_engines:
        return
    if conn is not None:
        create_tables(register, panels_metadata, conn)  # not cached: the caller may still roll back
        return
    create_tables(register, panels_metadata)
    _ready_engines.add(register.engine)


def _record_from_row(row: Any) -> PanelRecord:
    people = {
        expert_id: ExpertBrief(expert_id, item["name"], item["employer"], tuple(item["specialties"]))
        for expert_id, item in json.loads(row.people_json).items()
    }
    return PanelRecord(
        panel_id=row.panel_id,
        drawn_at=row.drawn_at,
        as_of=row.as_of,
        seed=int(row.seed),
        uscc=row.uscc,
        enterprise_name=row.enterprise_name or "",
        purpose=row.purpose,
        size=row.size,
        profile_name=row.profile,
        candidates=tuple(json.loads(row.candidates_json)),
        exclusions=_pairs(json.loads(row.exclusions_json)),
        deferred=_pairs(json.loads(row.deferred_json)),
        order=tuple(json.loads(row.order_json)),
        seats=_pairs(json.loads(row.seats_json)),
        panel=tuple(json.loads(row.panel_json)),
        reserves=tuple(json.loads(row.reserves_json)),
        people=people,
    )


def _pairs(items: Iterable[Sequence[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(first), str(second)) for first, second in items)


def _people(inputs: DrawInputs, draw: PanelDraw) -> dict[str, dict[str, Any]]:
    """Briefs for every expert the record names, so listing draws never parses the whole snapshot."""
    named = {*draw.panel, *draw.reserves, *(i for i, _ in draw.exclusions), *(i for i, _ in draw.deferred)}
    people: dict[str, dict[str, Any]] = {}
    for data in inputs.experts:
        expert_id = data.get("expert_id")
        if expert_id in named:
            people[expert_id] = {
                "name": data.get("name") or "",
                "employer": data.get("employer") or "",
                "specialties": list(data.get("specialties") or ()),
            }
    return dict(sorted(people.items()))


def _next_panel_id(conn: Connection, as_of: date) -> str:
    """``P20141130-0001``: the day drawn for, then a running number, so ids sort as the office expects."""
    prefix = f"{ID_PREFIX}{as_of:%Y%m%d}-"
    taken = conn.scalars(select(panels_table.c.panel_id).where(panels_table.c.panel_id.like(f"{prefix}%")))
    numbers = [int(text.removeprefix(prefix)) for text in taken if text.removeprefix(prefix).isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1:04d}"


def record_draw(
    register: Register,
    draw: PanelDraw,
    inputs: DrawInputs,
    *,
    profile_name: str,
    drawn_at: datetime,
    conn: Connection | None = None,
) -> PanelRecord:
    """Write one finished draw with the snapshot it came from; joins ``conn`` when given."""
    ensure_table(register, conn)
    if conn is None:
        with register.transaction() as own:
            return record_draw(register, draw, inputs, profile_name=profile_name, drawn_at=drawn_at, conn=own)
    panel_id = _next_panel_id(conn, draw.drawn_on)
    values = {
        "panel_id": panel_id,
        "drawn_at": drawn_at,
        "as_of": draw.drawn_on,
        "seed": str(draw.seed),
        "uscc": draw.uscc,
        "enterprise_name": inputs.enterprise.get("name"),
        "purpose": draw.purpose,
        "size": draw.size,
        "profile": profile_name,
        "inputs_json": dumps(inputs.to_json()),
        "people_json": dumps(_people(inputs, draw)),
        "candidates_json": dumps(list(draw.candidates)),
        "exclusions_json": dumps([list(pair) for pair in draw.exclusions]),
        "deferred_json": dumps([list(pair) for pair in draw.deferred]),
        "order_json": dumps(list(draw.order)),
        "seats_json": dumps([list(pair) for pair in draw.seats]),
        "panel_json": dumps(list(draw.panel)),
        "reserves_json": dumps(list(draw.reserves)),
    }
    conn.execute(insert(panels_table).values(**values))
    return get_draw(register, panel_id, conn=conn)


def get_draw(register: Register, panel_id: str, *, conn: Connection | None = None) -> PanelRecord:
    """One draw by its id as an officer types it; :class:`PanelNotFound` says which id is unknown."""
    ensure_table(register, conn)
    query = select(panels_table).where(panels_table.c.panel_id == panel_id.strip().upper())
    row = _fetch_one(register, query, conn)
    if row is None:
        raise PanelNotFound(f"台账中没有编号为“{panel_id}”的专家抽取记录")
    return _record_from_row(row)


def _fetch_one(register: Register, query: Any, conn: Connection | None) -> Any:
    if conn is not None:
        return conn.execute(query).first()
    with register.engine.connect() as own:
        return own.execute(query).first()


def list_draws(register: Register) -> list[PanelRecord]:
    """Every recorded draw, oldest first: the rows of the master's 专家抽取记录 sheet."""
    ensure_table(register)
    with register.engine.connect() as conn:
        rows = conn.execute(select(panels_table).order_by(panels_table.c.id)).all()
    return [_record_from_row(row) for row in rows]


# Drawing ------------------------------------------------------------------------------------


def redraw(
    inputs: DrawInputs, profile: Profile, *, seed: int, as_of: date, size: int, purpose: str
) -> PanelDraw:
    """Run :func:`draw_panel` on a snapshot; used for the original draw and its verification alike."""
    rules = PanelRules.model_validate(inputs.rules)
    return draw_panel(
        [Expert.model_validate(data) for data in inputs.experts],
        Enterprise.model_validate(inputs.enterprise),
        profile.model_copy(update={"panel": rules}),
        seed,
        as_of,
        audit=Audit.model_validate(inputs.audit) if inputs.audit is not None else None,
        agencies=[ConsultingAgency.model_validate(data) for data in inputs.agencies],
        history=inputs.history,
        size=size,
        purpose=purpose,
    )


def normalize_code(code: str) -> str:
    """A credit code as typed at a prompt: full-width characters, spaces and lower case forgiven."""
    return "".join(unicodedata.normalize("NFKC", code).split()).upper()


def relevant_history(
    history: Iterable[PastPanel], uscc: str, as_of: date, cooldown_days: int
) -> tuple[PastPanel, ...]:
    """Only the past panels that can change this draw, so snapshots do not grow with every draw.

    draw_panel looks at this enterprise's panels up to ``as_of`` (avoidance) and at anyone's
    panels inside the cool-down window (spread); older panels of others cannot matter.
    """
    window_start = as_of - timedelta(days=cooldown_days)
    return tuple(
        past
        for past in history
        if past.drawn_on <= as_of and (past.uscc == uscc or past.drawn_on > window_start)
    )


def recorded_history(register: Register, *, conn: Connection | None = None) -> list[PastPanel]:
    """Earlier recorded panels, in the form draw_panel uses for cool-down and avoidance."""
    ensure_table(register, conn)
    table = panels_table
    query = select(table.c.uscc, table.c.as_of, table.c.panel_json).order_by(table.c.id)
    if conn is not None:
        rows = conn.execute(query).all()
    else:
        with register.engine.connect() as own:
            rows = own.execute(query).all()
    return [PastPanel(row.uscc, row.as_of, tuple(json.loads(row.panel_json))) for row in rows]


def _latest_audit(register: Register, uscc: str, conn: Connection) -> dict[str, Any] | None:
    """The enterprise's highest audit round: the one whose evaluation or acceptance is being staffed."""
    rounds = [
        record.data
        for record in register.current(Audit.sheet_name, conn=conn)
        if record.data.get("uscc") == uscc
    ]
    return max(rounds, key=lambda data: data.get("round") or 0, default=None)


def gather_inputs(
    register: Register, profile: Profile, uscc: str, as_of: date, conn: Connection
) -> DrawInputs:
    """The snapshot of the register a draw for ``uscc`` depends on."""
    found = register.load_current(conn, Enterprise.sheet_name, [encode_key((uscc,))])
    enterprise = next((version.data for version in found.values()), None)
    if enterprise is None:
        raise PanelInputError(f"台账的企业名录中没有统一社会信用代码为“{uscc}”的企业")
    experts = tuple(record.data for record in register.current(Expert.sheet_name, conn=conn))
    if not experts:
        raise PanelInputError("台账的专家库中还没有专家,请先汇总市清洁生产专家库")
    return DrawInputs(
        rules=profile.panel.model_dump(mode="json"),
        experts=experts,
        enterprise=enterprise,
        audit=_latest_audit(register, uscc, conn),
        agencies=tuple(record.data for record in register.current(ConsultingAgency.sheet_name, conn=conn)),
        history=relevant_history(
            recorded_history(register, conn=conn), uscc, as_of, profile.panel.cooldown_days
        ),
    )


def _check_request(profile: Profile, purpose: str, size: int | None) -> int:
    if purpose not in PURPOSES:
        raise PanelInputError(f"抽取用途应为“{PURPOSE_EVALUATION}”或“{PURPOSE_ACCEPTANCE}”,收到“{purpose}”")
    rules = profile.panel
    chosen = rules.size if size is None else size
    if not rules.min_size <= chosen <= rules.max_size:
        raise PanelInputError(f"专家组人数须在{rules.min_size}至{rules.max_size}人之间,收到{chosen}人")
    return chosen


def draw_and_record(
    register: Register,
    profile: Profile,
    *,
    enterprise_code: str,
    purpose: str,
    size: int | None = None,
    seed: int | None = None,
    as_of: date,
    now: datetime | None = None,
) -> PanelRecord:
    """Draw a panel for one enterprise from the register and record it, in one transaction.

    The history is read and the record written under the same write lock, so two officers
    drawing at once cannot both miss each other's panel. :class:`PanelShortage` and
    :class:`PanelInputError` propagate with nothing written.
    """
    chosen_size = _check_request(profile, purpose, size)
    chosen_seed = secrets.randbits(SEED_BITS) if seed is None else seed
    drawn_at = now or datetime.now().replace(microsecond=0)
    uscc = normalize_code(enterprise_code)
    ensure_table(register)
    with register.transaction() as conn:
        inputs = gather_inputs(register, profile, uscc, as_of, conn)
        draw = redraw(inputs, profile, seed=chosen_seed, as_of=as_of, size=chosen_size, purpose=purpose)
        return record_draw(register, draw, inputs, profile_name=profile.name, drawn_at=drawn_at, conn=conn)


# Verification -------------------------------------------------------------------------------


def _load_inputs(register: Register, panel_id: str) -> DrawInputs:
    row = _fetch_one(
        register,
        select(panels_table.c.inputs_json).where(panels_table.c.panel_id == panel_id),
        None,
    )
    return DrawInputs.from_json(json.loads(row.inputs_json))


def _listing(items: Sequence[Any]) -> str:
    if not items:
        return "(无)"
    return "、".join(item if isinstance(item, str) else ":".join(item) for item in items)


_COMPARED: tuple[tuple[str, str], ...] = (
    ("uscc", "企业统一社会信用代码"),
    ("candidates", "候选名单"),
    ("exclusions", "回避及原因"),
    ("deferred", "靠后抽取"),
    ("seats", "必需席位"),
    ("panel", "专家组"),
    ("reserves", "候补"),
)


def compare(record: PanelRecord, draw: PanelDraw) -> tuple[str, ...]:
    """Every field an officer sees that differs between the record and the re-run, in Chinese."""
    differences: list[str] = []
    for name, label in _COMPARED:
        recorded, again = getattr(record, name), getattr(draw, name)
        if isinstance(recorded, str):
            recorded, again = (recorded,), (again,)
        if tuple(recorded) != tuple(again):
            differences.append(f"{label}不一致:记录为“{_listing(recorded)}”,重新抽取为“{_listing(again)}”")
    return tuple(differences)


def verify_draw(register: Register, profile: Profile, panel_id: str) -> VerifyResult:
    """Re-run a recorded draw from its own snapshot and seed, and say whether it comes out the same.

    The recorded panel rules are used, not ``profile``'s current ones: a rule change made after
    the draw must not make an honest draw look tampered with. ``profile`` only supplies the rest.
    """
    record = get_draw(register, panel_id)
    try:
        inputs = _load_inputs(register, record.panel_id)
        again = redraw(
            inputs, profile, seed=record.seed, as_of=record.as_of, size=record.size, purpose=record.purpose
        )
    except PanelShortage as error:
        return VerifyResult(record, None, (f"按记录的输入重新抽取未能成功:{error.message}",))
    except (ValueError, KeyError, TypeError, ValidationError) as error:
        return VerifyResult(record, None, (f"记录的抽取输入无法读取或已被改动:{error}",))
    return VerifyResult(record, again, compare(record, again))
