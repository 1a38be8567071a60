"""Expert panels drawn at random, reproducibly, with every exclusion on record.

The draw must be re-runnable by anyone, on any machine, years later: the candidates are ordered
by 专家编号, the only randomness is ``random.Random(seed)`` shuffling that fixed order, and the
record keeps the seed, the candidates and why each excluded expert was left out. Seats are
filled by augmenting paths (Kuhn's matching) in the shuffled order, so a required specialty is
never left empty while some eligible expert could fill it, and an expert with two specialties
does not block a seat another expert alone could take.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sheetsync.domain.lifecycle import cn_date
from sheetsync.normalize import canonical
from sheetsync.profile import Profile, Seat
from sheetsync.schemas.agency import ConsultingAgency
from sheetsync.schemas.audit import Audit
from sheetsync.schemas.enterprise import Enterprise
from sheetsync.schemas.expert import EXPERT_ACTIVE, Expert

PURPOSE_EVALUATION = "评估"
PURPOSE_ACCEPTANCE = "验收"


@dataclass(frozen=True)
class PastPanel:
    """What the history of draws needs to keep: whose panel, when, and who sat on it."""

    uscc: str
    drawn_on: date
    members: tuple[str, ...]


@dataclass(frozen=True)
class PanelDraw:
    seed: int
    uscc: str
    purpose: str
    drawn_on: date
    size: int
    candidates: tuple[str, ...]  # the whole pool by 专家编号
    exclusions: tuple[tuple[str, str], ...]  # (专家编号, reason)
    deferred: tuple[tuple[str, str], ...]  # eligible but drawn recently: sent to the back
    order: tuple[str, ...]  # eligible experts in draw order: the shuffle, deferred ones last
    seats: tuple[tuple[str, str], ...]  # (required seat, 专家编号)
    panel: tuple[str, ...]  # in draw order
    reserves: tuple[str, ...]  # 候补, in the order they are called

    def as_past(self) -> PastPanel:
        return PastPanel(self.uscc, self.drawn_on, self.panel)


class PanelShortage(Exception):
    """Too few eligible experts; ``specialty`` names the seat that cannot be filled (None: too few overall)."""

    def __init__(self, message: str, *, specialty: str | None, needed: int, available: int) -> None:
        super().__init__(message)
        self.message = message
        self.specialty = specialty
        self.needed = needed
        self.available = available


def seat_label(seat: Seat, industry: str | None) -> str:
    if seat.match_industry and industry:
        return f"{seat.specialty}({industry})"
    return seat.specialty


def qualifies(expert: Expert, seat: Seat, industry: str | None) -> bool:
    if seat.specialty not in expert.specialties:
        return False
    return not seat.match_industry or industry is None or industry in expert.industry_fields


class _Avoidance:
    """The names and codes an expert must not be connected with for this audit."""

    def __init__(self, enterprise: Enterprise, agency: str | None, agency_uscc: str | None) -> None:
        self.enterprise = {canonical(v) for v in (enterprise.name, enterprise.uscc) if v}
        self.agency_name = agency
        self.agency = {canonical(v) for v in (agency, agency_uscc) if v}

    def reason(self, expert: Expert) -> str | None:
        employer = canonical(expert.employer or "")
        related = {canonical(item) for item in expert.related}
        if employer and employer in self.enterprise:
            return "工作单位为被审核企业"
        if employer and employer in self.agency:
            return f"工作单位为承担审核的咨询机构“{self.agency_name}”"
        if related & self.enterprise:
            return "关联单位含被审核企业"
        if related & self.agency:
            return f"关联单位含承担审核的咨询机构“{self.agency_name}”"
        return None


def _agency_uscc(name: str | None, agencies: Iterable[ConsultingAgency]) -> str | None:
    if not name:
        return None
    wanted = canonical(name)
    return next((a.uscc for a in agencies if a.name and canonical(a.name) == wanted), None)


def _previous_panel(uscc: str, history: Sequence[PastPanel], as_of: date) -> tuple[date, set[str]] | None:
    own = [past for past in history if past.uscc == uscc and past.drawn_on <= as_of]
    if not own:
        return None
    latest = max(past.drawn_on for past in own)
    return latest, {member for past in own if past.drawn_on == latest for member in past.members}


def _last_drawn(history: Sequence[PastPanel], as_of: date) -> dict[str, date]:
    last: dict[str, date] = {}
    for past in history:
        if past.drawn_on > as_of:
            continue
        for member in past.members:
            if member not in last or past.drawn_on > last[member]:
                last[member] = past.drawn_on
    return last


def _match_seats(
    order: Sequence[str], fits: dict[str, list[int]], seat_count: int
) -> tuple[dict[int, str], list[str]]:
    """Kuhn's matching, taking experts in ``order``: seat → expert, and the experts it kept."""
    holder: dict[int, str] = {}

    def augment(expert: str, visited: set[int]) -> bool:
        for seat in fits.get(expert, ()):
            if seat in visited:
                continue
            visited.add(seat)
            if seat not in holder or augment(holder[seat], visited):
                holder[seat] = expert
                return True
        return False

    kept: list[str] = []
    for expert in order:
        if len(holder) == seat_count:
            break
        if augment(expert, set()):
            kept.append(expert)
    return holder, kept


def draw_panel(
    experts: Iterable[Expert],
    enterprise: Enterprise,
    profile: Profile,
    seed: int,
    as_of: date,
    *,
    audit: Audit | None = None,
    agencies: Iterable[ConsultingAgency] = (),
    history: Iterable[PastPanel] = (),
    size: int | None = None,
    purpose: str = PURPOSE_EVALUATION,
) -> PanelDraw:
    """A panel for one enterprise's evaluation or acceptance; raises :class:`PanelShortage`, never a partial panel."""
    rules = profile.panel
    size = rules.size if size is None else size
    if not rules.min_size <= size <= rules.max_size:
        raise ValueError(f"专家组人数须在{rules.min_size}至{rules.max_size}人之间,收到{size}人")
    pool = sorted((e for e in experts if e.expert_id), key=lambda e: e.expert_id or "")
    history = tuple(history)
    agency = audit.agency if audit is not None else None
    avoid = _Avoidance(enterprise, agency, _agency_uscc(agency, agencies))
    previous = _previous_panel(enterprise.uscc or "", history, as_of)
    last_drawn = _last_drawn(history, as_of)

    exclusions: list[tuple[str, str]] = []
    deferred: list[tuple[str, str]] = []
    fresh: list[str] = []
    late: list[str] = []
    by_id: dict[str, Expert] = {}
    for expert in pool:
        expert_id = expert.expert_id or ""
        by_id[expert_id] = expert
        if expert.status != EXPERT_ACTIVE:
            exclusions.append((expert_id, f"状态为“{expert.status or '未填写'}”,不在库"))
            continue
        reason = avoid.reason(expert)
        if reason is None and previous is not None and expert_id in previous[1]:
            reason = f"曾参加该企业上一次专家组({cn_date(previous[0])})"
        if reason is not None:
            exclusions.append((expert_id, reason))
            continue
        drawn = last_drawn.get(expert_id)
        if drawn is not None and (as_of - drawn).days < rules.cooldown_days:
            deferred.append((expert_id, f"{cn_date(drawn)}参加过专家组,{rules.cooldown_days}日内靠后抽取"))
            late.append(expert_id)
        else:
            fresh.append(expert_id)

    industry = enterprise.industry_section
    seats = rules.seats
    eligible = fresh + late
    fits = {
        expert_id: [i for i, seat in enumerate(seats) if qualifies(by_id[expert_id], seat, industry)]
        for expert_id in eligible
    }
    _check_supply(eligible, fits, seats, industry, size)

    rng = random.Random(seed)
    rng.shuffle(fresh)
    rng.shuffle(late)
    order = fresh + late
    holder, kept = _match_seats(order, fits, len(seats))
    chosen = set(kept)
    for expert_id in order:
        if len(chosen) == size:
            break
        chosen.add(expert_id)
    panel = tuple(expert_id for expert_id in order if expert_id in chosen)
    reserves = tuple(expert_id for expert_id in order if expert_id not in chosen)[: rules.reserves]
    return PanelDraw(
        seed=seed,
        uscc=enterprise.uscc or "",
        purpose=purpose,
        drawn_on=as_of,
        size=size,
        candidates=tuple(e.expert_id or "" for e in pool),
        exclusions=tuple(exclusions),
        deferred=tuple(deferred),
        order=tuple(order),
        seats=tuple((seat_label(seats[i], industry), holder[i]) for i in range(len(seats))),
        panel=panel,
        reserves=reserves,
    )


def _check_supply(
    eligible: list[str], fits: dict[str, list[int]], seats: Sequence[Seat], industry: str | None, size: int
) -> None:
    """Decided before the shuffle, in 专家编号 order, so the error does not depend on the seed."""
    holder, _ = _match_seats(eligible, fits, len(seats))
    for index, seat in enumerate(seats):
        if index in holder:
            continue
        label = seat_label(seat, industry)
        available = sum(1 for expert_id in eligible if index in fits[expert_id])
        needed = sum(1 for other in seats if seat_label(other, industry) == label)
        if available < needed:
            message = (
                f"可抽取的“{label}”专家不足:需要{needed}名,符合条件的在库专家(已除去回避的)仅{available}名"
            )
        else:
            message = (
                f"可抽取的“{label}”专家不足:符合条件的{available}名专家还须占用其他必需席位,无法同时补齐"
            )
        raise PanelShortage(
            message,
            specialty=label,
            needed=needed,
            available=available,
        )
    if len(eligible) < size:
        raise PanelShortage(
            f"符合条件的在库专家仅{len(eligible)}名,不足专家组所需的{size}名",
            specialty=None,
            needed=size,
            available=len(eligible),
        )
