"""Dispatch rules (权责清单): precedence, the component rule, load-time conflicts, the file layout.

The worked examples are those of docs/dispatch.md (Kaifeng, 鼓楼区 410204); the properties check
``RuleSet`` against a brute-force reference written independently of the index.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.core.dispatch import (
    AREA_FIRST,
    EXPORT_COLUMNS,
    TYPE_FIRST,
    DispatchRule,
    RuleSet,
    parse_rule_records,
    parse_rule_rows,
    rule_rows,
)
from cityops.core.errors import CityopsError

GULOU = "410204"  # 鼓楼区
GULOU_S1 = "410204001"  # a street of 鼓楼区
LONGTING = "410205"  # 龙亭区
GRID_S1 = "410204001002003"
GRID_S2 = "410204002001001"
GRID_LT = "410205003001004"


def _kaifeng() -> list[DispatchRule]:
    return [
        DispatchRule(id=1, major_code="06", area=GULOU, department="GL-CGJ"),  # 鼓楼区城管局
        DispatchRule(id=2, type_code="06010", department="HWC"),  # 市环卫处
        DispatchRule(id=3, department="CENTRE-DUTY"),  # 指挥中心值班
        DispatchRule(
            id=4, type_code="06010", area=GULOU_S1, department="GL-S1", auto_dispatch=True
        ),
        DispatchRule(id=5, type_code="01001", component_owner="SW", department="SW"),  # 水务集团
        DispatchRule(id=6, major_code="01", area=GULOU, department="GL-SZ"),  # 鼓楼区市政
    ]


@pytest.mark.parametrize(
    ("type_code", "grid", "owner", "maint", "type_first", "area_first"),
    [
        # The brief's question: 06010 in 鼓楼区 outside street 001.
        ("06010", GRID_S2, None, None, (2, "HWC"), (1, "GL-CGJ")),
        # A street rule for the very type wins under both orders.
        ("06010", GRID_S1, None, None, (4, "GL-S1"), (4, "GL-S1")),
        ("06020", GRID_S2, None, None, (1, "GL-CGJ"), (1, "GL-CGJ")),
        ("06020", GRID_LT, None, None, (3, "CENTRE-DUTY"), (3, "CENTRE-DUTY")),
        # Component of 水务集团, no maintenance unit: precedence decides owner rule vs area rule.
        ("01001", GRID_S2, "SW", None, (5, "SW"), (6, "GL-SZ")),
        # With a maintenance unit, a rule for the owner still wins …
        ("01001", GRID_S2, "SW", "YH-1", (5, "SW"), (5, "SW")),
        # … and otherwise the maintenance unit beats every rule without an owner.
        ("01002", GRID_S2, "GD", "YH-1", (None, "YH-1"), (None, "YH-1")),
        # No position: only whole-city rules.
        ("06010", None, None, None, (2, "HWC"), (2, "HWC")),
        ("06020", None, None, None, (3, "CENTRE-DUTY"), (3, "CENTRE-DUTY")),
        # A case located only to the street (hotline) still meets the street rule.
        ("06010", GULOU_S1, None, None, (4, "GL-S1"), (4, "GL-S1")),
    ],
)
def test_worked_examples_of_the_docs(
    type_code: str,
    grid: str | None,
    owner: str | None,
    maint: str | None,
    type_first: tuple[int | None, str],
    area_first: tuple[int | None, str],
) -> None:
    for precedence, expected in ((TYPE_FIRST, type_first), (AREA_FIRST, area_first)):
        s = RuleSet(_kaifeng(), precedence=precedence).resolve(type_code, None, grid, owner, maint)
        assert (s.rule_id, s.department) == expected, precedence


def test_suggestion_carries_auto_dispatch_and_a_reason_in_both_languages() -> None:
    rules = RuleSet(_kaifeng())
    s = rules.resolve("06010", "06", GRID_S1)
    assert (s.source, s.auto_dispatch) == ("rule", True)
    assert s.reason == "权责清单规则 4（类型 06010，街道 410204001）"
    assert s.reason_for("en") == "dispatch rule 4 (type 06010, street 410204001)"
    m = rules.resolve("01002", None, GRID_S2, "GD", "YH-1")
    assert (m.source, m.reason, m.auto_dispatch) == ("maintenance_unit", "部件养护单位", False)
    m = RuleSet(_kaifeng(), maintenance_unit_auto_dispatch=True).resolve(
        "01002", None, GRID_S2, "GD", "YH-1"
    )
    assert m.auto_dispatch is True


def test_no_match_is_a_suggestion_without_department() -> None:
    rules = RuleSet([r for r in _kaifeng() if r.id != 3])
    s = rules.resolve("07001", None, GRID_LT)
    assert (s.department, s.rule_id, s.source, s.auto_dispatch) == (None, None, "none", False)
    assert "人工" in s.reason and "by hand" in s.reason_en
    assert RuleSet([]).resolve("06010", None, GRID_S1).department is None


def test_matching_lists_every_applicable_rule_most_specific_first() -> None:
    rules = RuleSet(_kaifeng())
    assert [r.id for r in rules.matching("06010", None, GRID_S1)] == [4, 2, 1, 3]
    assert [
        r.id for r in RuleSet(_kaifeng(), precedence=AREA_FIRST).matching("06010", None, GRID_S1)
    ] == [4, 1, 2, 3]


def test_owner_first_precedence_is_allowed() -> None:
    rules = RuleSet(_kaifeng(), precedence=("owner", "type", "area"))
    assert rules.resolve("01001", None, GRID_S2, "SW").rule_id == 5
    with pytest.raises(CityopsError) as exc:
        RuleSet(_kaifeng(), precedence=("type", "type", "area"))
    assert exc.value.code == "bad_dispatch_precedence"


def test_case_input_is_checked() -> None:
    rules = RuleSet(_kaifeng())
    for args in (
        ("6010", None, None),
        ("06010", "01", None),
        ("06010", None, "4102"),
        (None, "6", None),
    ):
        with pytest.raises(CityopsError) as exc:
            rules.resolve(*args)
        assert exc.value.code == "bad_dispatch_input"
    # The major class alone (a case typed only to its class) meets major and any-type rules.
    assert rules.resolve(None, "06", GRID_S2).rule_id == 1
    assert [r.id for r in rules.matching(None, "06", GRID_S2)] == [1, 3]
    assert [r.id for r in _kaifeng() if r.matches(None, GRID_S2, major_code="06")] == [1, 3]


# --- load-time checks -----------------------------------------------------------------------------


def test_same_condition_different_department_is_a_conflict_listing_every_pair() -> None:
    rules = [
        *_kaifeng(),
        DispatchRule(id=7, major_code="06", area=GULOU, department="OTHER"),
        DispatchRule(id=8, major_code="06", area=GULOU, department="THIRD"),
        DispatchRule(id=9, type_code="06010", department="HWC", auto_dispatch=True),
    ]
    with pytest.raises(CityopsError) as exc:
        RuleSet(rules)
    err = exc.value
    assert err.code == "dispatch_rule_conflict"
    assert isinstance(err.details, dict)
    assert sorted(map(tuple, err.details["conflicts"])) == [(1, 7), (1, 8), (2, 9), (7, 8)]
    assert "规则 1 与规则 7 条件相同" in err.message
    assert err.message_en is not None and "rules 2 and 9" in err.message_en


def test_an_exact_repetition_is_reported_too() -> None:
    with pytest.raises(CityopsError) as exc:
        RuleSet([*_kaifeng(), DispatchRule(id="dup", type_code="06010", department="HWC")])
    assert exc.value.code == "dispatch_rule_conflict"
    assert "重复了规则 2" in exc.value.message


def test_every_bad_rule_is_reported_at_once() -> None:
    rules = [
        DispatchRule(id=1, type_code="6010", department="A"),
        DispatchRule(id=2, type_code="06010", major_code="01", department="A"),
        DispatchRule(id=3, major_code="6", department="A"),
        DispatchRule(id=4, area="4102041", department="A"),
        DispatchRule(id=5, area="410200", department="A"),  # the city code: leave it empty
        DispatchRule(id=6, area=GULOU, department=" "),
        DispatchRule(id=6, area=LONGTING, department="A"),
    ]
    with pytest.raises(CityopsError) as exc:
        RuleSet(rules)
    assert exc.value.code == "invalid_dispatch_rules"
    assert isinstance(exc.value.details, dict)
    got = [(p["rules"], p["field"]) for p in exc.value.details["problems"]]
    assert got == [
        ([1], "type_code"),
        ([2], "major_code"),
        ([3], "major_code"),
        ([4], "area"),
        ([5], "area"),
        ([6], "department"),
        ([6], "id"),
    ]


def test_known_codes_are_checked_when_given() -> None:
    with pytest.raises(CityopsError) as exc:
        RuleSet(
            _kaifeng(),
            known_type_codes={"06010", "01001"},
            known_departments={"HWC", "GL-CGJ", "GL-S1", "SW", "GL-SZ"},
            known_areas={GULOU},
        )
    assert isinstance(exc.value.details, dict)
    got = [(p["rules"], p["field"]) for p in exc.value.details["problems"]]
    assert got == [([3], "department"), ([4], "area")]


def test_blank_strings_mean_not_given() -> None:
    r = DispatchRule(
        id=1, type_code="", major_code=" ", area="", component_owner="", department="A"
    )
    assert (r.type_code, r.major_code, r.area, r.component_owner) == (None, None, None, None)
    assert r.levels == (0, 0, 0)


# --- properties against a brute-force reference ---------------------------------------------------

TYPES = [None, "06", "01", "06010", "06020", "01001"]
AREAS = [
    None,
    GULOU,
    LONGTING,
    GULOU_S1,
    "410204002",
    "410204001001",
    "410204001001001",
    "410204001001002",
    "410205001001001",
]
OWNERS = [None, "SW", "GD"]
DEPTS = ["A", "B", "C"]
CASE_TYPES = ["06010", "06020", "06030", "01001", "01002", "07001"]
CASE_AREAS = [
    None,
    GULOU,
    GULOU_S1,
    "410204001001",
    "410204001001001",
    "410204001001002",
    "410204002003004",
    "410205001001001",
    "420802001001001",
]

_rule_parts = st.tuples(
    st.sampled_from(TYPES),
    st.sampled_from(AREAS),
    st.sampled_from(OWNERS),
    st.sampled_from(DEPTS),
    st.booleans(),
)


def _build(parts: list[tuple[str | None, str | None, str | None, str, bool]]) -> list[DispatchRule]:
    return [
        DispatchRule(
            id=i,
            type_code=t if t and len(t) == 5 else None,
            major_code=t if t and len(t) == 2 else None,
            area=a,
            component_owner=o,
            department=d,
            auto_dispatch=auto,
        )
        for i, (t, a, o, d, auto) in enumerate(parts)
    ]


def _ref_matches(r: DispatchRule, type_code: str, area: str | None, owner: str | None) -> bool:
    t = r.type_code or r.major_code
    return (
        (t is None or type_code.startswith(t))
        and (r.area is None or (area is not None and area[: len(r.area)] == r.area))
        and (r.component_owner is None or r.component_owner == owner)
    )


def _ref_spec(r: DispatchRule, precedence: tuple[str, ...]) -> tuple[int, ...]:
    level = {
        "type": 2 if r.type_code else (1 if r.major_code else 0),
        "area": {None: 0, 6: 1, 9: 2, 12: 3, 15: 4}[len(r.area) if r.area else None],
        "owner": int(r.component_owner is not None),
    }
    return tuple(level[d] for d in precedence)


def _reference(
    rules: list[DispatchRule],
    precedence: tuple[str, ...],
    type_code: str,
    area: str | None,
    owner: str | None,
    maint: str | None,
) -> tuple[int | str | None, str | None]:
    hits = [r for r in rules if _ref_matches(r, type_code, area, owner)]
    if maint:
        hits = [r for r in hits if r.component_owner is not None]
        if not hits:
            return (None, maint)
    if not hits:
        return (None, None)
    hits.sort(key=lambda r: _ref_spec(r, precedence), reverse=True)
    # The order is total: the most specific matching rule is unique once keys are unique.
    assert len(hits) == 1 or _ref_spec(hits[0], precedence) > _ref_spec(hits[1], precedence)
    return (hits[0].id, hits[0].department)


PRECEDENCES = [TYPE_FIRST, AREA_FIRST, ("owner", "type", "area"), ("area", "owner", "type")]


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(_rule_parts, max_size=40, unique_by=lambda p: (p[0], p[1], p[2])),
    cases=st.lists(
        st.tuples(
            st.sampled_from(CASE_TYPES),
            st.sampled_from(CASE_AREAS),
            st.sampled_from(OWNERS),
            st.sampled_from([None, None, "YH"]),
        ),
        min_size=1,
        max_size=20,
    ),
    precedence=st.sampled_from(PRECEDENCES),
)
def test_resolve_agrees_with_brute_force(
    parts: list[tuple[str | None, str | None, str | None, str, bool]],
    cases: list[tuple[str, str | None, str | None, str | None]],
    precedence: tuple[str, str, str],
) -> None:
    rules = _build(parts)
    rule_set = RuleSet(rules, precedence=precedence)  # type: ignore[arg-type]
    for type_code, area, owner, maint in cases:
        maint_eff = maint if owner else None  # a maintenance unit comes with a component
        got = rule_set.resolve(type_code, None, area, owner, maint_eff)
        assert (got.rule_id, got.department) == _reference(
            rules, precedence, type_code, area, owner, maint_eff
        )
        expected = sorted(
            (r for r in rules if _ref_matches(r, type_code, area, owner)),
            key=lambda r: _ref_spec(r, precedence),
            reverse=True,
        )
        assert rule_set.matching(type_code, None, area, owner) == expected
        assert [r for r in rules if r.matches(type_code, area, owner)] == [
            r for r in rules if _ref_matches(r, type_code, area, owner)
        ]


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(_rule_parts, max_size=25))
def test_ties_are_always_detected_at_load(
    parts: list[tuple[str | None, str | None, str | None, str, bool]],
) -> None:
    rules = _build(parts)
    keys = Counter((t, a, o) for t, a, o, _d, _auto in parts)
    expected_pairs = sum(n * (n - 1) // 2 for n in keys.values())
    if expected_pairs == 0:
        RuleSet(rules)
        return
    with pytest.raises(CityopsError) as exc:
        RuleSet(rules)
    assert exc.value.code == "dispatch_rule_conflict"
    assert isinstance(exc.value.details, dict)
    assert len(exc.value.details["conflicts"]) == expected_pairs


def test_resolve_is_fast_on_a_large_rule_set() -> None:
    """5,000 rules; the whole-request budget is 1 ms, resolve must be a small part of it."""
    types = [f"{m:02d}{n:03d}" for m in range(1, 11) for n in range(1, 26)]  # 250 types
    grids = [
        f"4102{d:02d}{s:03d}{c:03d}{g:03d}"
        for d in range(1, 6)
        for s in range(1, 6)
        for c in range(1, 5)
        for g in range(1, 11)
    ]  # 1,000 grids in 100 communities, 25 streets, 5 districts
    areas = [g[:n] for n in (6, 9, 12) for g in grids[::10]] + grids
    areas = list(dict.fromkeys(areas))  # 1,130 distinct areas
    rules = [
        DispatchRule(
            id=i,
            type_code=types[i % 250],
            area=areas[(i // 250 * 61 + i) % len(areas)],
            department=f"D{i % 40}",
        )
        for i in range(5000)
    ]
    rule_set = RuleSet(rules)
    assert len(rule_set) == 5000
    start = time.perf_counter()
    hits = 0
    for n in range(20_000):
        hits += rule_set.resolve(types[n % 250], None, grids[n % 1000]).department is not None
    per_call = (time.perf_counter() - start) / 20_000
    assert hits > 0
    assert per_call < 100e-6  # measured ~4 µs; a linear scan over 5,000 rules takes milliseconds


# --- file layout ----------------------------------------------------------------------------------


def test_parse_chinese_headers_and_excel_numbers() -> None:
    header = ["类型代码", "区域", "部件权属", "责任部门", "自动派遣", "备注"]
    rows: list[list[object]] = [
        [6010, 410204, None, "GL-CGJ", "是", "暴露垃圾 鼓楼区"],
        [6, None, "", "HWC", "否", ""],
        ["全部", "全市", "", "CENTRE-DUTY", None, "兜底"],
        [1001.0, 410204001001001.0, "SW", "SW", True, None],
        ["*", 410205, "", "X", "0", ""],
    ]
    rules, errors = parse_rule_rows(header, rows)
    assert errors == []
    got = [
        (r.id, r.type_code, r.major_code, r.area, r.component_owner, r.department, r.auto_dispatch)
        for r in rules
    ]
    assert got == [
        (2, "06010", None, GULOU, None, "GL-CGJ", True),
        (3, None, "06", None, None, "HWC", False),
        (4, None, None, None, None, "CENTRE-DUTY", False),
        (5, "01001", None, "410204001001001", "SW", "SW", True),
        (6, None, None, LONGTING, None, "X", False),
    ]
    assert rules[0].note == "暴露垃圾 鼓楼区"


def test_the_city_code_means_the_whole_city() -> None:
    header = ["type_code", "area", "department"]
    rules, errors = parse_rule_rows(header, [["06010", "410200", "HWC"]], city_code="410200")
    assert errors == [] and rules[0].area is None
    rules, errors = parse_rule_rows(header, [["06010", "410200", "HWC"]])
    assert errors == [] and rules[0].area is None
    _, errors = parse_rule_rows(header, [["06010", "420800", "HWC"]], city_code="410200")
    assert [(e.row, e.column) for e in errors] == [(2, "area")]


def test_each_bad_row_is_reported_with_row_and_column() -> None:
    header = ["编号", "类型代码", "区域", "部件权属", "责任部门", "自动派遣"]
    rows: list[list[object]] = [
        ["", "123", "", "", "A", ""],  # 3-digit code
        ["", "06010", "4102", "", "A", ""],  # bad area
        ["", "06010", "", "", "", "maybe"],  # no department, bad yes/no
        ["", "06", GULOU, "", "A", ""],  # row 5
        ["", "06", GULOU, "", "B", ""],  # row 6: same condition as row 5, other department
        ["", "06020", "", "", "C", ""],  # row 7
        ["", "06020", "", "", "C", "否"],  # row 8: repeats row 7 exactly
        ["R1", "07", "", "", "C", ""],
        ["R1", "08", "", "", "C", ""],  # repeated id
        ["", "", "", "", "", ""],  # blank line: ignored
    ]
    rules, errors = parse_rule_rows(header, rows)
    assert [(e.row, e.column) for e in errors] == [
        (2, "type_code"),
        (3, "area"),
        (4, "department"),
        (4, "auto_dispatch"),
        (5, "department"),
        (6, "department"),
        (8, None),
        (10, "id"),
    ]
    assert "与第 6 行条件相同" in errors[4].message
    assert "与第 7 行重复" in errors[6].message
    # Tied rows are both left out; the first of an exact repetition is kept.
    assert [r.id for r in rules] == [7, "R1"]
    RuleSet(rules)


def test_unknown_repeated_or_missing_columns_refuse_the_file() -> None:
    for header, code in (
        (["类型代码", "责任部门", "备注x"], "unknown_columns"),
        (["类型代码", "type_code", "责任部门"], "duplicate_columns"),
        (["类型代码", "区域"], "missing_column"),
    ):
        with pytest.raises(CityopsError) as exc:
            parse_rule_rows(header, [])
        assert exc.value.code == code


def test_export_reads_back_unchanged() -> None:
    rules = _kaifeng()
    rows = rule_rows(rules)
    assert rows[0] == ["1", "06", GULOU, "", "GL-CGJ", "否", ""]
    again, errors = parse_rule_rows(EXPORT_COLUMNS, rows)
    assert errors == [] and again == rules


def test_records_from_the_table_reader_keep_their_row_numbers() -> None:
    rules, errors = parse_rule_records([(7, {"type_code": "6010", "department": "HWC"})])
    assert errors == [] and rules[0].id == 7 and rules[0].type_code == "06010"
