from __future__ import annotations

import pytest

from cityops.core.errors import ValidationFailed
from cityops.core.passwords import check_password


@pytest.mark.parametrize(
    "password",
    ["Kf-grid-2026", "correct horse Battery", "汴梁城管网格Ab12"],
)
def test_strong_passwords_pass(password: str) -> None:
    check_password(password, "zhangsan")


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Ab1!", "at least 10 characters"),
        ("alllowercaseletters", "three of"),
        ("Zhangsan-2026", "must not contain the user name"),
        ("Password1234", "must not be a common password"),
    ],
)
def test_weak_passwords_name_the_rule(password: str, rule: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        check_password(password, "zhangsan")
    assert exc.value.code == "weak_password"
    assert any(rule in r for r in exc.value.details["rules"])  # type: ignore[index]
    assert exc.value.message.startswith("密码强度不足")
