"""Evaluation core: periods, subjects, figures, schemes (loading and validation), scores, grades,
ranks. No database."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from importlib.resources import files
from zoneinfo import ZoneInfo

import pytest

from cityops.core.errors import CityopsError
from cityops.core.evaluation import (
    INDICATORS,
    BadScheme,
    Band,
    EvaluationPeriod,
    Family,
    Grades,
    Kind,
    Scheme,
    SubjectType,
    counted,
    counted_parts,
    figures,
    parse_subjects,
    ranks,
    round_half_up,
    score,
)

TZ = ZoneInfo("Asia/Shanghai")
SCHEMES = files("cityops.data") / "schemes"
DEFAULT = (SCHEMES / "default.toml").read_text(encoding="utf-8")
KAIFENG = (SCHEMES / "kaifeng.toml").read_text(encoding="utf-8")


# --- periods -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "first", "last", "label"),
    [
        ("2026-10", "2026-10", date(2026, 10, 1), date(2026, 10, 31), "2026年10月"),
        ("2026-2", "2026-02", date(2026, 2, 1), date(2026, 2, 28), "2026年2月"),
        ("2024-02", "2024-02", date(2024, 2, 1), date(2024, 2, 29), "2024年2月"),
        ("2026-Q4", "2026-Q4", date(2026, 10, 1), date(2026, 12, 31), "2026年第4季度"),
        ("2026q1", "2026-Q1", date(2026, 1, 1), date(2026, 3, 31), "2026年第1季度"),
        ("2026", "2026", date(2026, 1, 1), date(2026, 12, 31), "2026年"),
        (
            "2026-10-01..2026-10-15",
            "2026-10-01..2026-10-15",
            date(2026, 10, 1),
            date(2026, 10, 15),
            "2026-10-01至2026-10-15",
        ),
        (
            " 2026-10-01 至 2026-10-01 ",
            "2026-10-01..2026-10-01",
            date(2026, 10, 1),
            date(2026, 10, 1),
            "2026-10-01至2026-10-01",
        ),
    ],
)
def test_periods_parse(text: str, key: str, first: date, last: date, label: str) -> None:
    p = EvaluationPeriod.parse(text)
    assert (p.key, p.first, p.last, p.label_zh) == (key, first, last, label)
    assert EvaluationPeriod.parse(p.key) == p


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-13",
        "2026-Q5",
        "26-10",
        "2026-10-15..2026-10-01",
        "2026-02-30..2026-03-01",
        "2020-01-01..2026-01-01",
    ],
)
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(CityopsError) as err:
        EvaluationPeriod.parse(text)
    assert err.value.code == "bad_period"


def test_period_bounds_are_local_midnights() -> None:
    start, end = EvaluationPeriod.parse("2026-10").bounds(TZ)
    assert start == datetime(2026, 10, 1, tzinfo=TZ) and end == datetime(2026, 11, 1, tzinfo=TZ)
    # 23:30 Beijing time on 31 October is 15:30 UTC: October, whatever the UTC date says.
    late = datetime(2026, 10, 31, 23, 30, tzinfo=TZ)
    assert start <= late < end
    assert str(end.astimezone(ZoneInfo("UTC"))) == "2026-10-31 16:00:00+00:00"


def test_previous_periods() -> None:
    prev = lambda t: EvaluationPeriod.parse(t).previous().key  # noqa: E731
    assert prev("2026-01") == "2025-12"
    assert prev("2026-03") == "2026-02"
    assert prev("2026-Q1") == "2025-Q4"
    assert prev("2026-Q3") == "2026-Q2"
    assert prev("2026") == "2025"
    assert prev("2026-10-01..2026-10-15") == "2026-09-16..2026-09-30"
    trail = EvaluationPeriod.parse("2026-02").trail(3)
    assert [p.key for p in trail] == ["2025-12", "2026-01", "2026-02"]


def test_subjects() -> None:
    assert parse_subjects("department") == (SubjectType.department,)
    assert parse_subjects("region") == (
        SubjectType.district,
        SubjectType.street,
        SubjectType.community,
        SubjectType.grid,
    )
    assert parse_subjects("all") == tuple(SubjectType)
    assert parse_subjects("grid, department,grid") == (SubjectType.grid, SubjectType.department)
    assert SubjectType.street.family is Family.region
    with pytest.raises(CityopsError) as err:
        parse_subjects("mayor")
    assert err.value.code == "bad_subject"


# --- indicators and figures ---------------------------------------------------------------------------


def test_indicator_table_covers_design_section_4() -> None:
    names = {(i.family, i.name_zh) for i in INDICATORS}
    for family, wanted in {
        Family.department: "应处置数 处置数 按期处置数 超期处置数 超期未处置数 返工数 延期数 回退数 "
        "处置率 按期处置率 返工率 延期率",
        Family.region: "立案数 监督举报数 结案数 应结案数 结案率 按期结案率",
        Family.supervisor: "上报数 有效上报数 有效上报率 漏报数 按时核查率 按时核实率",
        Family.acceptor: "受理数 按时立案率 准确立案率",
        Family.dispatcher: "派遣数 按时派遣率 准确派遣率",
    }.items():
        for name in wanted.split():
            assert (family, name) in names, (family, name)
    assert all(i.definition_zh and i.definition_en for i in INDICATORS)


def test_figures_totals_and_rates() -> None:
    f = figures(
        SubjectType.department,
        {"handled": 6, "handled_on_time": 4, "overdue_open": 1, "reworks": 1, "received": 0},
    )
    assert f["should_handle"].count == 7
    assert f["ontime_rate"].ratio == Fraction(4, 7)
    assert f["ontime_rate"].to_json() == {"value": 0.5714, "num": 4, "den": 7}
    assert f["ontime_rate"].display() == "57.14%"
    assert f["return_rate"].ratio is None and f["return_rate"].display() == "—"
    assert f["return_rate"].to_json() == {"value": None, "num": 0, "den": 0}
    assert f["handled_late"].to_json() == 0  # missing counts are 0
    assert counted_parts(SubjectType.department, "should_handle") == {
        "cases": ("handled", "overdue_open")
    }
    assert counted_parts(SubjectType.grid, "close_rate") == {
        "numerator": ("closed",),
        "denominator": ("closed", "overdue_unclosed"),
    }
    assert "handled" in counted(SubjectType.department)
    assert "should_handle" not in counted(SubjectType.department)
    with pytest.raises(CityopsError) as err:
        counted_parts(SubjectType.acceptor, "handled")
    assert err.value.code == "unknown_indicator"
    assert all(i.kind in Kind for i in INDICATORS)


def test_round_half_up() -> None:
    assert round_half_up(Fraction(89995, 1000), 2) == Decimal("90.00")
    assert round_half_up(Fraction(8999499, 100000), 2) == Decimal("89.99")
    assert round_half_up(Fraction(2, 3), 4) == Decimal("0.6667")
    assert round_half_up(Fraction(1, 8), 2) == Decimal("0.13")


# --- schemes ------------------------------------------------------------------------------------------


def test_shipped_schemes_load() -> None:
    d = Scheme.loads(DEFAULT)
    k = Scheme.loads(KAIFENG)
    assert d.name == "default" and k.name == "kaifeng"
    assert [c.indicator for c in d.for_subject(SubjectType.department).components] == [
        "ontime_rate",
        "handling_rate",
        "rework_rate",
    ]
    assert d.for_subject(SubjectType.grid) is d.subjects["region"]
    assert k.for_subject(SubjectType.grid) is k.subjects["grid"]
    assert k.grades.bounds == (95, 85, 70, 50)
    assert k.counting.check_limit == "1工作时"
    old_town = k.region_class("410204001002003")
    assert old_town is not None and old_town.title == "老城区"
    assert k.region_class("410212") is not None and k.region_class("420100") is None
    assert len(d.version) == 64 and d.version != k.version


def test_the_version_is_the_content_not_the_text() -> None:
    a = Scheme.loads(DEFAULT)
    b = Scheme.loads("# a comment\n" + DEFAULT.replace("weight = 40", "weight   =   40"))
    assert a.version == b.version and a.text != b.text
    c = Scheme.loads(DEFAULT.replace("A = 90", "A = 91"))
    assert c.version != a.version


def problems(text: str) -> dict[str, str]:
    with pytest.raises(BadScheme) as err:
        Scheme.loads(text)
    assert err.value.code == "bad_scheme"
    details = err.value.details
    assert isinstance(details, list)
    return {p["path"]: p["message"] for p in details}


def test_validation_names_every_problem_with_its_place() -> None:
    bad = (
        DEFAULT.replace("A = 90", "A = 70")  # A below B
        .replace('check_limit = "2工作时"', 'check_limit = "两小时"')
        .replace('["public", "hotline"]', '["public", "fax"]')
        .replace(
            'indicator = "handling_rate"     # 处置率\nweight = 30',
            'indicator = "closed"\nweight = 30',
        )
        .replace('indicator = "acceptor_typo"', "")
        + "\n[extra]\nx = 1\n"
    )
    found = problems(bad)
    assert "grades" in found  # not falling
    assert "counting.check_limit" in found
    assert "counting.public_sources" in found
    assert "department.score[1].indicator" in found  # closed is a region indicator
    assert "extra" in found


def test_weights_must_add_up_to_100() -> None:
    found = problems(
        DEFAULT.replace(
            "weight = 40\n\n[[department.score]]", "weight = 45\n\n[[department.score]]", 1
        )
    )
    assert "权重合计应为 100" in found["department.score"]


def test_counts_need_a_band_and_bands_are_checked() -> None:
    found = problems(
        DEFAULT.replace(
            'indicator = "missed"             # 漏报数 → score\nweight = 20\nband = [[0, 100], [1, 90], [3, 75], [6, 60], [10, 40], [20, 0]]',
            'indicator = "missed"\nweight = 20',
        )
    )
    assert "band" in found["supervisor.score[3].mode"]
    found = problems(DEFAULT.replace("band = [[0, 100], [1, 90]", "band = [[1, 100], [1, 90]"))
    assert "supervisor.score[3].band[0][0]" in found and "supervisor.score[3].band" in found
    found = problems(DEFAULT.replace("[20, 0]]", "[20, 120]]"))
    assert "supervisor.score[3].band[5][1]" in found


def test_region_classes_are_checked() -> None:
    text = (
        DEFAULT
        + """
[region_classes.a]
regions = ["410204", "4102"]
grades = { A = 90, B = 95 }
bands.close_rate = [[0, 100]]

[region_classes.b]
regions = ["410204"]
"""
    )
    found = problems(text)
    assert "region_classes.a.regions" in found  # 4102 is no region code
    assert "region_classes.b.regions" in found  # 410204 already in a
    assert "region_classes.a.grades" in found
    assert "region_classes.a.bands.close_rate" in found  # not scored by band


def test_missing_sections_and_bad_toml() -> None:
    found = problems("[scheme]\nname = 'x'\n")
    assert {"department", "region", "supervisor", "acceptor", "dispatcher"} <= set(found)
    assert "" in problems("this is = not [toml")
    assert "department.min_volume" in problems(
        DEFAULT.replace("min_volume = 1", "min_volume = 0", 1)
    )


# --- scores, grades, ranks ---------------------------------------------------------------------------


def dept(**counts: int) -> dict[str, object]:
    return figures(SubjectType.department, counts)  # type: ignore[return-value]


def test_the_design_composite() -> None:
    """按期处置率×40 + 处置率×30 + (1−返工率)×30, DESIGN §4."""
    s = Scheme.loads(DEFAULT)
    # should_handle 20: handled 19 (18 on time), 1 overdue; 1 rework in 19 handled.
    f = figures(
        SubjectType.department,
        {"handled": 19, "handled_on_time": 18, "handled_late": 1, "overdue_open": 1, "reworks": 1},
    )
    sc = score(SubjectType.department, f, s)
    exact = Fraction(40 * 18, 20) + Fraction(30 * 19, 20) + 30 * (1 - Fraction(1, 19))
    assert sc.score == round_half_up(exact, 2) == Decimal("92.92")  # 36 + 28.5 + 28.42
    assert sc.grade == "A" and sc.ranked
    assert [p.subscore for p in sc.parts] == [90, Fraction(95), 100 * (1 - Fraction(1, 19))]


def test_undefined_rates_are_left_out_and_volume_gates_ranking() -> None:
    s = Scheme.loads(DEFAULT)
    only_overdue = figures(SubjectType.department, {"overdue_open": 1})
    sc = score(SubjectType.department, only_overdue, s)
    assert sc.score == 0 and sc.grade == "E"  # 返工率 over 0 handled is left out
    assert sc.parts[2].subscore is None
    nothing = score(SubjectType.department, figures(SubjectType.department, {}), s)
    assert nothing.score is None and not nothing.ranked and nothing.grade is None
    k = Scheme.loads(KAIFENG)  # min_volume 3 for departments
    two = figures(SubjectType.department, {"handled": 2, "handled_on_time": 2})
    assert score(SubjectType.department, two, k).score is None
    assert score(SubjectType.department, two, s).score == 100


def test_bands_and_region_classes() -> None:
    k = Scheme.loads(KAIFENG)
    f = figures(
        SubjectType.district,
        {"registered": 10, "public_reports": 4, "closed": 10, "closed_on_time": 10},
    )
    # default band: 4 → 100 (threshold 0); old town: 4 → 90 (threshold 3)
    outer = score(SubjectType.district, f, k, k.region_class("410212"))
    old = score(SubjectType.district, f, k, k.region_class("410204"))
    assert outer.score == 100 and outer.grade == "A"
    assert old.score == Decimal("97.00") and old.grade == "A"
    f2 = figures(
        SubjectType.district,
        {
            "registered": 10,
            "public_reports": 4,
            "closed": 9,
            "closed_on_time": 8,
            "overdue_unclosed": 1,
        },
    )
    # 40·0.8 + 30·0.9 + 30·band → outer 100: 89.00 (outer A ≥ 90 → B); old 90: 86.00 (B ≥ 85)
    assert (
        score(SubjectType.district, f2, k, k.region_class("410212")).score,
        score(SubjectType.district, f2, k, k.region_class("410212")).grade,
    ) == (Decimal("89.00"), "B")
    assert score(SubjectType.district, f2, k, k.region_class("410204")).score == Decimal("86.00")
    band = Band(((Fraction(0), Fraction(100)), (Fraction(95, 100), Fraction(50))))
    assert band.score(Fraction(94, 100)) == 100 and band.score(Fraction(95, 100)) == 50


def test_rate_bands_are_written_in_percent() -> None:
    text = DEFAULT.replace(
        'indicator = "valid_report_rate"  # 有效上报率\nweight = 40',
        'indicator = "valid_report_rate"\nweight = 40\nband = [[0, 0], [80, 60], [95, 100]]',
    )
    s = Scheme.loads(text)
    f = figures(SubjectType.supervisor, {"reports": 20, "valid_reports": 17})  # 85 %
    sc = score(SubjectType.supervisor, f, s)
    assert sc.parts[0].subscore == 60
    assert problems(text.replace("[95, 100]]", "[120, 100]]"))


def test_grades_at_their_bounds() -> None:
    g = Grades()
    assert [g.grade(Decimal(x)) for x in ("90", "89.99", "75", "60", "40", "39.99", "0")] == [
        "A",
        "B",
        "B",
        "C",
        "D",
        "E",
        "E",
    ]
    assert g.grade(None) is None


def test_competition_ranking() -> None:
    r = ranks(
        {"a": Decimal("90"), "b": Decimal("95"), "c": Decimal("90"), "d": None, "e": Decimal("80")}
    )
    assert r == {"b": 1, "a": 2, "c": 2, "e": 4}
