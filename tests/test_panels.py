"""Expert draws: avoidance, required seats, cool-down, reproducibility and an even spread over seeds."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sheetsync.domain import PanelShortage, PastPanel, draw_panel
from sheetsync.domain.panels import qualifies
from sheetsync.profile import load_profile
from sheetsync.schemas import Audit, ConsultingAgency, Enterprise, Expert
from sheetsync.uscc import check_character

PROFILE = load_profile("guangzhou-2013")
SEATS = PROFILE.panel.seats
AS_OF = date(2014, 6, 30)
MAKING = "C 制造业"


def code(n: int) -> str:
    first17 = f"91440106{n:09d}"
    return first17 + check_character(first17)


ENTERPRISE = Enterprise(uscc=code(1), name="甲化工有限公司", industry_section=MAKING, category="规模以上工业")
AGENCY = ConsultingAgency(name="乙环保咨询有限公司", uscc=code(2), status="在册")
AUDIT = Audit(uscc=code(1), round=1, method="全面审核", agency="乙环保咨询有限公司")


def expert(expert_id: str, *specialties: str, **fields: Any) -> Expert:
    base: dict[str, Any] = {
        "expert_id": expert_id,
        "name": f"专家{expert_id}",
        "employer": "某大学",
        "industry_fields": (MAKING,),
        "specialties": specialties or ("工艺", "节能", "环保"),
        "status": "在库",
    }
    return Expert(**(base | fields))


def draw(experts: list[Expert], seed: int = 7, **options: Any):
    options.setdefault("audit", AUDIT)
    options.setdefault("agencies", [AGENCY])
    return draw_panel(experts, ENTERPRISE, PROFILE, seed, AS_OF, **options)


# ---- examples ---------------------------------------------------------------------------------


def test_every_exclusion_is_recorded_with_its_reason() -> None:
    pool = [
        expert("E01", status="暂停"),
        expert("E02", employer="甲化工有限公司"),
        expert("E03", employer="乙环保咨询有限公司"),
        expert("E04", related=(code(1),)),
        expert("E05", related=(code(2),)),
        expert("E06"),
        *(expert(f"E1{i}") for i in range(6)),
    ]
    history = [PastPanel(code(1), date(2013, 6, 1), ("E06",))]
    result = draw(pool, history=history)
    assert dict(result.exclusions) == {
        "E01": "状态为“暂停”,不在库",
        "E02": "工作单位为被审核企业",
        "E03": "工作单位为承担审核的咨询机构“乙环保咨询有限公司”",
        "E04": "关联单位含被审核企业",
        "E05": "关联单位含承担审核的咨询机构“乙环保咨询有限公司”",
        "E06": "曾参加该企业上一次专家组(2013年6月1日)",
    }
    assert result.candidates == tuple(sorted(e.expert_id for e in pool))
    assert not set(result.panel) & set(dict(result.exclusions))


def test_recently_drawn_experts_go_to_the_back() -> None:
    pool = [expert(f"E{i:02d}") for i in range(8)]
    recent = PastPanel(code(9), AS_OF - timedelta(days=10), ("E00", "E01", "E02"))
    result = draw(pool, history=[recent])
    assert dict(result.deferred)["E00"] == "2014年6月20日参加过专家组,30日内靠后抽取"
    assert set(result.panel) == {f"E{i:02d}" for i in range(3, 8)}
    assert result.order[-3:] == tuple(sorted(result.order[-3:], key=result.order.index))
    old = PastPanel(code(9), AS_OF - timedelta(days=30), ("E00",))
    assert draw(pool, history=[old]).deferred == ()


def test_required_seats_are_filled_even_when_one_expert_could_take_two() -> None:
    pool = [
        expert("A", "工艺", "节能"),
        expert("B", "工艺"),
        expert("C", "环保"),
        *(expert(f"F{i}", "财务") for i in range(4)),
    ]
    for seed in range(50):
        result = draw(pool, seed=seed)
        assert dict((holder, seat) for seat, holder in result.seats) == {
            "A": "节能",
            "B": "工艺(C 制造业)",
            "C": "环保",
        }


def test_the_process_seat_needs_the_enterprise_industry() -> None:
    pool = [
        expert("P", "工艺", industry_fields=("H 住宿和餐饮业",)),
        *(expert(f"E{i}", "节能", "环保") for i in range(6)),
    ]
    with pytest.raises(PanelShortage) as raised:
        draw(pool)
    assert raised.value.specialty == "工艺(C 制造业)"
    assert (
        str(raised.value) == "可抽取的“工艺(C 制造业)”专家不足:需要1名,符合条件的在库专家(已除去回避的)仅0名"
    )


def test_a_shortage_names_the_short_specialty_and_no_partial_panel() -> None:
    pool = [expert(f"E{i}", "工艺", "环保") for i in range(8)]
    with pytest.raises(PanelShortage) as raised:
        draw(pool)
    assert (raised.value.specialty, raised.value.needed, raised.value.available) == ("节能", 1, 0)
    shared = [expert("X", "节能", "环保"), *(expert(f"E{i}", "工艺") for i in range(6))]
    with pytest.raises(PanelShortage, match="还须占用其他必需席位") as raised:
        draw(shared)
    few = [expert(f"E{i}") for i in range(4)]
    with pytest.raises(PanelShortage, match="仅4名,不足专家组所需的5名") as raised:
        draw(few)
    assert raised.value.specialty is None
    assert draw(few, size=4).panel  # a smaller panel within the profile's range is fine


def test_panel_size_must_be_within_the_profile_range() -> None:
    with pytest.raises(ValueError, match="3至7人"):
        draw([expert(f"E{i}") for i in range(10)], size=8)


def test_reserves_are_drawn_after_the_panel() -> None:
    result = draw([expert(f"E{i}") for i in range(10)])
    assert len(result.panel) == 5 and len(result.reserves) == 2
    assert result.order[:7] == result.panel + result.reserves
    assert draw([expert(f"E{i}") for i in range(6)]).reserves == (
        draw([expert(f"E{i}") for i in range(6)]).order[5],
    )


def test_a_recorded_draw_replays_exactly() -> None:
    pool = [expert(f"E{i:02d}") for i in range(15)]
    first = draw(pool, seed=20140630)
    assert draw(list(reversed(pool)), seed=20140630) == first
    assert first.as_past() == PastPanel(code(1), AS_OF, first.panel)
    # pinned: random.Random's shuffle is the same on every platform and Python 3 version
    assert first.panel == draw(pool, seed=20140630).panel
    assert len({draw(pool, seed=seed).panel for seed in range(20)}) > 1


# ---- properties ---------------------------------------------------------------------------------

NAMES = ("某大学", "甲化工有限公司", "乙环保咨询有限公司", "丙研究院")
RELATED = ("甲化工有限公司", code(1), "乙环保咨询有限公司", code(2), "丁公司")
SECTIONS = (MAKING, "D 电力、热力、燃气及水生产和供应业", "H 住宿和餐饮业")


@st.composite
def pools(draw_: st.DrawFn) -> list[Expert]:
    """Mostly usable experts, so that both full panels and shortages come up often."""
    count = draw_(st.integers(min_value=3, max_value=11))
    usual = st.sampled_from((*(NAMES[0],) * 6, *NAMES[1:]))
    experts = []
    for i in range(count):
        fields = {MAKING} if draw_(st.integers(0, 9)) < 7 else set()
        experts.append(
            Expert(
                expert_id=f"E{i:02d}",
                name=f"专家{i}",
                employer=draw_(usual),
                industry_fields=tuple(fields | draw_(st.sets(st.sampled_from(SECTIONS[1:]), max_size=1))),
                specialties=tuple(
                    draw_(st.sets(st.sampled_from(("工艺", "节能", "环保", "财务")), min_size=1))
                ),
                related=tuple(draw_(st.sets(st.sampled_from(RELATED), max_size=1)))
                if draw_(st.booleans())
                else (),
                status=draw_(st.sampled_from(("在库",) * 8 + ("暂停", "退出"))),
            )
        )
    return experts


@st.composite
def histories(draw_: st.DrawFn) -> list[PastPanel]:
    ids = [f"E{i:02d}" for i in range(11)]
    panels = []
    for uscc in (code(1), code(3)):
        if draw_(st.booleans()):
            ago = draw_(st.integers(min_value=0, max_value=90))
            members = tuple(draw_(st.sets(st.sampled_from(ids), max_size=4)))
            panels.append(PastPanel(uscc, AS_OF - timedelta(days=ago), members))
    return panels


def eligible_by_hand(experts: list[Expert], history: list[PastPanel]) -> set[str]:
    """The avoidance rules of DOMAIN.md, written out again independently of the module."""
    avoid = {"甲化工有限公司", code(1), "乙环保咨询有限公司", code(2)}
    previous = [p for p in history if p.uscc == code(1)]
    sat = set(previous[0].members) if previous else set()
    return {
        e.expert_id
        for e in experts
        if e.status == "在库"
        and e.employer not in avoid
        and not set(e.related) & avoid
        and e.expert_id not in sat
    }


def seats_fillable(experts: list[Expert], eligible: set[str]) -> bool:
    people = [e for e in experts if e.expert_id in eligible]
    return any(
        all(qualifies(person, seat, MAKING) for person, seat in zip(chosen, SEATS, strict=True))
        for chosen in itertools.permutations(people, len(SEATS))
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    experts=pools(),
    history=histories(),
    seed=st.integers(min_value=0, max_value=2**64),
    size=st.integers(min_value=3, max_value=7),
)
def test_draw_properties(experts: list[Expert], history: list[PastPanel], seed: int, size: int) -> None:
    eligible = eligible_by_hand(experts, history)
    possible = seats_fillable(experts, eligible) and len(eligible) >= size
    try:
        result = draw(experts, seed=seed, size=size, history=history)
    except PanelShortage as shortage:
        assert not possible
        assert (shortage.specialty is None) == seats_fillable(experts, eligible)
        return
    assert possible
    # never an excluded expert
    assert set(result.panel) <= eligible and set(result.reserves) <= eligible
    assert {expert_id for expert_id, _ in result.exclusions} == {e.expert_id for e in experts} - eligible
    # required seats always filled, by distinct qualified panel members
    by_id = {e.expert_id: e for e in experts}
    holders = [holder for _, holder in result.seats]
    assert len(set(holders)) == len(SEATS) and set(holders) <= set(result.panel)
    assert all(qualifies(by_id[h], seat, MAKING) for h, seat in zip(holders, SEATS, strict=True))
    assert len(result.panel) == len(set(result.panel)) == size
    assert not set(result.reserves) & set(result.panel)
    assert len(result.reserves) == min(PROFILE.panel.reserves, len(eligible) - size)
    # cool-down: an unseated expert drawn recently sits only when every fresh expert does
    deferred = {expert_id for expert_id, _ in result.deferred}
    if (set(result.panel) - set(holders)) & deferred:
        assert eligible - deferred <= set(result.panel)
    # same seed, same panel, whatever order the pool arrives in
    again = draw(list(reversed(experts)), seed=seed, size=size, history=list(reversed(history)))
    assert again == result


# ---- an even spread over seeds: chi-square ------------------------------------------------------


def chi2_sf(statistic: float, df: int) -> float:
    """P(X ≥ statistic) for chi-square with ``df`` degrees of freedom: the regularized Q(df/2, x/2)."""
    a, x = df / 2, statistic / 2
    if x <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:  # series for the lower part
        term = total = 1 / a
        n = a
        while abs(term) > abs(total) * 1e-15:
            n += 1
            term *= x / n
            total += term
        return max(0.0, 1 - total * math.exp(log_front))
    tiny = 1e-300  # continued fraction for the upper part (modified Lentz)
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return math.exp(log_front) * h


@pytest.mark.parametrize(
    ("statistic", "df", "p"),
    [
        (3.841459, 1, 0.05),
        (19.675138, 11, 0.05),
        (24.724970, 11, 0.01),
        (5.0, 10, 0.891178),
        (30.0, 4, 4.89e-6),
    ],
)
def test_chi2_sf_matches_tables(statistic: float, df: int, p: float) -> None:
    assert chi2_sf(statistic, df) == pytest.approx(p, rel=1e-3)


def chi_square_p(counts: Counter[str], ids: list[str]) -> float:
    total = sum(counts[i] for i in ids)
    expected = total / len(ids)
    statistic = sum((counts[i] - expected) ** 2 / expected for i in ids)
    return chi2_sf(statistic, len(ids) - 1)


SEEDS = range(2000)


def test_each_eligible_expert_is_drawn_about_equally_often() -> None:
    pool = [expert(f"E{i:02d}") for i in range(12)]
    counts = Counter(member for seed in SEEDS for member in draw(pool, seed=seed).panel)
    ids = [e.expert_id for e in pool]
    assert sum(counts.values()) == 5 * len(SEEDS)
    assert chi_square_p(counts, ids) > 0.001


def test_experts_of_the_same_seat_are_drawn_about_equally_often() -> None:
    classes = {"工艺": "P", "节能": "N", "环保": "H", "财务": "F"}
    pool = [expert(f"{prefix}{i}", specialty) for specialty, prefix in classes.items() for i in range(4)]
    counts = Counter(member for seed in SEEDS for member in draw(pool, seed=seed).panel)
    for prefix in classes.values():
        ids = [f"{prefix}{i}" for i in range(4)]
        assert chi_square_p(counts, ids) > 0.001, prefix


def test_the_chi_square_check_catches_a_biased_draw() -> None:
    ids = [f"E{i:02d}" for i in range(12)]
    biased = Counter({expert_id: (1200 if expert_id < "E05" else 700) for expert_id in ids})
    assert chi_square_p(biased, ids) < 1e-6
