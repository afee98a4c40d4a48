"""The catalog rules: standard file shape, import-row validation, Excel's lost leading zero."""

from __future__ import annotations

from collections import Counter

import pytest

from cityops.core.catalog import (
    CatalogEntry,
    Key,
    Kind,
    default_public,
    normalise_header,
    validate_rows,
)
from cityops.core.errors import ValidationFailed
from cityops.data import standard_catalog_rows


def test_standard_catalog_has_the_counts_of_the_standard() -> None:
    rows = standard_catalog_rows()
    kinds = Counter(r["kind"] for r in rows)
    # GB/T 47678.5-2026: 153 component types and 250 matter types.
    assert kinds == {"component": 153, "matter": 250}
    # Identity is (kind, code): each component's anomaly matter reuses the component's code.
    assert len({(r["kind"], r["code"]) for r in rows}) == 403
    assert len({r["code"] for r in rows}) == 250
    for r in rows:
        assert len(r["code"]) == 5 and r["code"].isdigit()
        assert r["code"][:2] == r["major_code"]
    # 06 市容环境类 has 51 matter types (the acceptance figure).
    assert sum(1 for r in rows if r["major_code"] == "06") == 51


def test_every_component_type_has_its_anomaly_matter_under_the_same_code() -> None:
    rows = standard_catalog_rows()
    matters = {r["code"]: r["name"] for r in rows if r["kind"] == "matter"}
    wrong = [
        (r["code"], r["name"], matters.get(r["code"]))
        for r in rows
        if r["kind"] == "component" and matters.get(r["code"]) != f"{r['name']}异常"
    ]
    assert wrong == []


def _existing() -> dict[Key, CatalogEntry]:
    entries = [
        CatalogEntry("06010", Kind.matter, "06", "市容环境类", "暴露垃圾", public=True),
        CatalogEntry("01001", Kind.component, "01", "市政公用设施", "供水井盖"),
        CatalogEntry("01001", Kind.matter, "01", "市政公用设施类", "供水井盖异常", public=True),
        CatalogEntry("01002", Kind.component, "01", "市政公用设施", "污水井盖"),
    ]
    return {(e.kind, e.code): e for e in entries}


def test_override_of_a_standard_type() -> None:
    updates, errors = validate_rows(
        [(2, {"code": "06010", "display_name": "垃圾暴露", "public": "否", "enabled": "是"})],
        _existing(),
    )
    assert errors == []
    assert updates[0].new is None
    assert updates[0].changes == {"display_name": "垃圾暴露", "public": False, "enabled": True}


def test_new_local_type_takes_kind_from_standard_major_and_default_public() -> None:
    rows = [(2, {"code": "06901", "name": "共享单车乱停放", "major_name": "市容环境类"})]
    updates, errors = validate_rows(rows, _existing())
    assert errors == []
    new = updates[0].new
    assert new is not None
    assert (new.kind, new.origin, new.public, new.major_code) == (Kind.matter, "local", True, "06")


def test_excel_number_loses_leading_zero_and_is_restored() -> None:
    updates, errors = validate_rows([(2, {"code": "1002", "enabled": "0"})], _existing())
    assert errors == []
    assert (updates[0].kind, updates[0].code) == (Kind.component, "01002")
    assert updates[0].changes == {"enabled": False}


def test_code_shared_by_component_and_matter_needs_the_kind() -> None:
    _, errors = validate_rows([(2, {"code": "01001", "public": "否"})], _existing())
    assert [(e.row, e.column) for e in errors] == [(2, "kind")]
    updates, errors = validate_rows(
        [(2, {"code": "01001", "kind": "事项", "public": "否"})], _existing()
    )
    assert errors == [] and updates[0].kind is Kind.matter


def test_each_bad_row_is_reported_with_row_and_column() -> None:
    rows = [
        (2, {"code": "6010"}),  # 4 digits: padded to 06010, which exists: fine
        (3, {"code": "ABCDE"}),
        (4, {"code": "01001", "kind": "matter", "name": "另一个名字"}),  # renaming a standard type
        (5, {"code": "11001", "name": "x", "major_name": "y"}),  # non-standard major needs kind
        (
            6,
            {"code": "06902", "name": "z", "major_name": "市容环境类", "kind": "部件"},
        ),  # 06 is matter-only
        (7, {"code": "06903", "public": "maybe", "name": "n", "major_name": "m"}),
        (8, {"code": "06904"}),  # new type without names
        (9, {"code": "06010", "display_name": "dup"}),  # duplicates row 2 (after padding)
    ]
    _updates, errors = validate_rows(rows, _existing())
    got = sorted((e.row, e.column) for e in errors)
    assert got == [
        (3, "code"),
        (4, "name"),
        (5, "kind"),
        (6, "kind"),
        (7, "public"),
        (8, "major_name"),
        (8, "name"),
        (9, "code"),
    ]


def test_blank_rows_are_ignored() -> None:
    updates, errors = validate_rows([(2, {"code": "", "name": ""})], _existing())
    assert updates == [] and errors == []


def test_headers_accept_chinese_and_reject_unknown() -> None:
    assert normalise_header(["小类代码", "小类名称", "大类名称", "公众可报"]) == [
        "code",
        "name",
        "major_name",
        "public",
    ]
    with pytest.raises(ValidationFailed) as exc:
        normalise_header(["code", "nmae"])
    assert exc.value.code == "unknown_columns"
    assert exc.value.details["unknown_columns"] == ["nmae"]  # type: ignore[index]
    with pytest.raises(ValidationFailed):
        normalise_header(["name"])


def test_default_public() -> None:
    assert default_public(Kind.matter) and not default_public(Kind.component)
