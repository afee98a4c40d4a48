"""Case standards (立结案标准): parsing the Excel layout, every bad row reported, export round trip."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cityops.core.clock import TimeLimit, TimeUnit
from cityops.core.errors import RowError, ValidationFailed
from cityops.core.standards import (
    DEFAULT_STAGE_LIMITS,
    CaseStandard,
    Condition,
    StageLimits,
    normalise_type_code,
    parse_standard_rows,
    standard_rows,
)

HEADER = [
    "序号",
    "大类代码",
    "大类名称",
    "小类代码",
    "小类名称",
    "处置单位",
    "主管部门",
    "立案条件",
    "结案条件",
    "处置时限",
]

# As a city's sheet reads after openpyxl: merged type cells come back empty on the rows below,
# Excel has dropped the leading zero of numeric codes, and one limit uses a full-width digit.
SHEET = [
    [
        "1",
        "06",
        "市容环境类",
        "06010",
        "暴露垃圾",
        "区环卫所",
        "市城管局",
        "道路、广场等公共场所有暴露垃圾",
        "垃圾清除干净",
        "4工作时",
    ],
    [
        "2",
        "6",
        "市容环境类",
        "6012",
        "道路不洁",
        "区环卫所",
        "市城管局",
        "道路有明显污渍、积土或散落物",
        "路面清扫干净",
        "2工作时",
    ],
    [
        "3",
        "6.0",
        "市容环境类",
        "6001.0",
        "私搭乱建",
        "区综合执法局",
        "市城管局",
        "正在搭建的违法建筑",
        "停止施工",
        "4工作时",
    ],
    ["4", "", "", "", "", "", "", "已建成的违法建筑，需立案处罚", "作出行政处罚决定", "7工作日"],
    ["5", "", "", "", "", "", "", "违法建筑需拆除", "违法建筑拆除完毕", "２０工作日"],
    [
        "6",
        "06",
        "市容环境类",
        "06011",
        "积存垃圾渣土",
        "区环卫所",
        "市城管局",
        "积存垃圾渣土超过 1 立方米",
        "清运完毕",
        "4工作日",
    ],
    [
        "7",
        "06",
        "市容环境类",
        "06025",
        "水域不洁",
        "区水务局",
        "市水务局",
        "河道、湖泊水面有漂浮垃圾",
        "水面清洁",
        "15工作日",
    ],
    [
        "8",
        "04",
        "园林绿化设施类",
        "04013",
        "绿地异常",
        "区园林绿化所",
        "市园林局",
        "绿地缺株、黄土裸露，需补植养护",
        "补植完成",
        "5工作日",
    ],
]


def _limit(text: str) -> TimeLimit:
    return TimeLimit.parse(text)


def test_parse_a_realistic_sheet() -> None:
    standards, errors = parse_standard_rows(HEADER, SHEET)
    assert errors == []
    by_code = {s.type_code: s for s in standards}
    assert [s.type_code for s in standards] == [
        "06010",
        "06012",
        "06001",
        "06011",
        "06025",
        "04013",
    ]

    # DESIGN §8 examples.
    assert by_code["06010"].conditions[0].time_limit == TimeLimit(Decimal(4), TimeUnit.working_hour)
    assert by_code["06012"].conditions[0].time_limit == _limit("2工作时")
    assert by_code["04013"].conditions[0].time_limit == _limit("5工作日")
    assert by_code["06011"].conditions[0].time_limit == _limit("4工作日")
    assert by_code["06025"].conditions[0].time_limit == _limit("15工作日")

    # 私搭乱建: one type, three conditions (停工 / 处罚 / 拆除), merged type cells filled down.
    illegal = by_code["06001"]
    assert illegal.type_name == "私搭乱建" and illegal.major_name == "市容环境类"
    assert illegal.major_code == "06"
    assert [(c.seq, str(c.time_limit)) for c in illegal.conditions] == [
        (1, "4工作时"),
        (2, "7工作日"),
        (3, "20工作日"),
    ]
    assert illegal.conditions[2] == Condition(
        seq=3,
        text="违法建筑需拆除",
        closing_condition="违法建筑拆除完毕",
        time_limit=_limit("20工作日"),
        handling_unit="区综合执法局",
        supervising_department="市城管局",
    )
    assert by_code["06025"].conditions[0].handling_unit == "区水务局"


def test_english_headers_and_header_variants() -> None:
    header = [
        "major_code",
        "major_name",
        "code",
        "name",
        "handling_unit",
        "supervising_department",
        "condition",
        "closing_condition",
        "time_limit",
    ]
    row = [
        "06",
        "市容环境类",
        "06010",
        "暴露垃圾",
        "环卫所",
        "城管局",
        "有暴露垃圾",
        "清除",
        "4工作时",
    ]
    standards, errors = parse_standard_rows(header, [row])
    assert errors == [] and standards[0].conditions[0].handling_unit == "环卫所"

    # Variants cities write: 代码/名称, a required-mark, full-width brackets, other columns' order.
    header = ["*代码", "名称", "立案标准", "时限", "结案标准（必填）", "备注"]
    standards, errors = parse_standard_rows(
        header, [["06012", "道路不洁", "有污渍", "2工作时", "干净", "x"]]
    )
    assert errors == []
    assert standards == [
        CaseStandard("06012", "道路不洁", (Condition(1, "有污渍", "干净", _limit("2工作时")),))
    ]


def _errors(header: list[str], rows: list[list[str]]) -> list[tuple[int, str | None, str]]:
    _, errors = parse_standard_rows(header, rows)
    return [(e.row, e.column, e.message) for e in errors]


def test_missing_and_unknown_columns_are_reported_on_the_header_row() -> None:
    header = ["小类代码", "小类名称", "立案条件", "处理期限"]
    _, errors = parse_standard_rows(header, [["06010", "暴露垃圾", "x", "4工作时"]])
    assert {(e.row, e.column) for e in errors} == {(1, "处理期限"), (1, "处置时限")}
    assert any("缺少必需的列" in e.message for e in errors)
    assert any("无法识别的列" in e.message for e in errors)
    # The header is the row above the first data row.
    _, errors = parse_standard_rows(["代码"], [], first_row_number=5)
    assert {e.row for e in errors} == {4}
    assert {e.column for e in errors} == {"小类名称", "立案条件", "处置时限"}
    # The same column twice.
    _, errors = parse_standard_rows(
        ["代码", "小类代码", "名称", "立案条件", "处置时限"],
        [["06010", "06010", "暴露垃圾", "x", "4工作时"]],
    )
    assert [(e.row, e.column) for e in errors] == [(1, "小类代码")]


def test_every_bad_row_is_reported_with_row_and_column() -> None:
    header = ["小类代码", "小类名称", "立案条件", "结案条件", "处置时限"]
    rows = [
        ["06010", "暴露垃圾", "有暴露垃圾", "清除", "4工作时"],  # row 2: good
        ["6A010", "暴露垃圾", "有暴露垃圾", "清除", "4工作时"],  # row 3: bad code
        ["123456", "暴露垃圾", "有暴露垃圾", "清除", "4工作时"],  # row 4: 6 digits
        ["06012", "道路不洁", "有污渍", "干净", "4工作周"],  # row 5: unknown unit
        ["06012", "道路不洁", "有散落物", "干净", "0工作时"],  # row 6: zero
        ["06012", "道路不洁", "", "干净", "2工作时"],  # row 7: empty condition
        ["06010", "暴露垃圾", "有暴露垃圾", "清除", "2工作时"],  # row 8: duplicate of row 2
        ["06010", "垃圾暴露", "垃圾桶满溢", "清除", "2工作时"],  # row 9: other name for 06010
        ["", "", "", "", ""],  # row 10: blank line, skipped
        ["06025", "", "水面垃圾", "清洁", ""],  # row 11: no name, no time limit
        ["", "", "x", "y", "1工作日"],  # row 12: continues row 11 (merged cells): no name again
    ]
    found = _errors(header, rows)
    where = [(row, col) for row, col, _ in found]
    assert where == [
        (3, "小类代码"),
        (4, "小类代码"),
        (5, "处置时限"),
        (6, "处置时限"),
        (7, "立案条件"),
        (8, "立案条件"),
        (9, "小类名称"),
        (11, "小类名称"),
        (11, "处置时限"),
        (12, "小类名称"),
    ]
    messages = dict(((row, col), msg) for row, col, msg in found)
    assert "5 位数字" in messages[(3, "小类代码")]
    assert (
        "工作周" in messages[(5, "处置时限")] and "unknown time unit" in messages[(5, "处置时限")]
    )
    assert "大于 0" in messages[(6, "处置时限")]
    assert "第 2 行" in messages[(8, "立案条件")]
    assert "暴露垃圾" in messages[(9, "小类名称")]
    standards, _ = parse_standard_rows(header, rows)
    # Only the good rows make standards.
    assert [(s.type_code, len(s.conditions)) for s in standards] == [("06010", 1)]


def test_first_data_row_without_a_code_and_major_mismatch() -> None:
    header = ["大类代码", "小类代码", "小类名称", "立案条件", "处置时限"]
    rows = [
        ["", "", "", "有暴露垃圾", "4工作时"],  # row 2: nothing above to continue
        ["07", "06010", "暴露垃圾", "有暴露垃圾", "4工作时"],  # row 3: 07 is not 06010's major
    ]
    _, errors = parse_standard_rows(header, rows)
    assert [(e.row, e.column) for e in errors] == [
        (2, "小类代码"),
        (2, "小类名称"),
        (3, "大类代码"),
    ]
    assert all(isinstance(e, RowError) for e in errors)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("06010", "06010"),
        ("6010", "06010"),
        ("1001", "01001"),
        ("1001.0", "01001"),
        (" 10001 ", "10001"),
        ("10001.0", "10001"),
        ("０１００１", "01001"),
        ("101", None),
        ("123456", None),
        ("1001.5", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_type_code(text: str | None, code: str | None) -> None:
    assert normalise_type_code(text) == code


def test_export_round_trip() -> None:
    standards, errors = parse_standard_rows(HEADER, SHEET)
    assert errors == []
    header, rows = standard_rows(standards)
    assert header[:4] == ["大类代码", "大类名称", "小类代码", "小类名称"]
    assert len(rows) == 8 and all(len(r) == len(header) for r in rows)
    # Every cell is written (no merging): the 3rd 私搭乱建 row carries its code and units.
    assert rows[4][:6] == ["06", "市容环境类", "06001", "私搭乱建", "区综合执法局", "市城管局"]
    assert rows[4][-1] == "20工作日"
    again, errors = parse_standard_rows(header, rows)
    assert errors == [] and again == standards


def test_non_adjacent_rows_of_one_type_join() -> None:
    header = ["小类代码", "小类名称", "立案条件", "处置时限"]
    rows = [
        ["06001", "私搭乱建", "正在搭建", "4工作时"],
        ["06010", "暴露垃圾", "有暴露垃圾", "4工作时"],
        ["06001", "私搭乱建", "需拆除", "20工作日"],
    ]
    standards, errors = parse_standard_rows(header, rows)
    assert errors == []
    assert [(s.type_code, [c.seq for c in s.conditions]) for s in standards] == [
        ("06001", [1, 2]),
        ("06010", [1]),
    ]


def test_stage_limits_defaults_and_parse() -> None:
    # DESIGN §8: register and dispatch 15 minutes, verify 2 working hours.
    assert DEFAULT_STAGE_LIMITS.to_dict() == {
        "register": "15分钟",
        "dispatch": "15分钟",
        "verify": "2工作时",
    }
    assert StageLimits.parse({}) == DEFAULT_STAGE_LIMITS
    limits = StageLimits.parse({"立案": "10分钟", "verify": "1工作时"})
    assert limits.register == TimeLimit(Decimal(10), TimeUnit.natural_minute)
    assert limits.dispatch == DEFAULT_STAGE_LIMITS.dispatch
    assert StageLimits.parse(limits.to_dict()) == limits


def test_stage_limits_reject_unknown_stage_and_bad_limit() -> None:
    with pytest.raises(ValidationFailed) as info:
        StageLimits.parse({"archive": "1工作日", "dispatch": "soon"})
    assert info.value.code == "bad_stage_limits"
    details = info.value.details
    assert isinstance(details, list)
    assert [d["key"] for d in details] == ["archive", "dispatch"]
