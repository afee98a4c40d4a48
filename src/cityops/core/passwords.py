"""Password policy: long enough, varied enough, not the user's own name, not a famous password.

Staff accounts act on citizens' data; the policy follows the usual 等保 (MLPS level 2) practice of
at least 10 characters drawn from three of four character classes.
"""

from __future__ import annotations

from cityops.core.errors import ValidationFailed

MIN_LENGTH = 10
_COMMON = {
    "password123",
    "password1234",
    "admin12345",
    "1234567890",
    "qwertyuiop",
    "qwerty12345",
    "abc1234567",
    "iloveyou123",
    "12345678910",
    "admin@123456",
    "p@ssw0rd123",
    "woaini1314",
}


def check_password(password: str, username: str = "") -> None:
    """Raise ``weak_password`` naming every rule the password breaks."""
    problems_zh: list[str] = []
    problems_en: list[str] = []
    if len(password) < MIN_LENGTH:
        problems_zh.append(f"至少 {MIN_LENGTH} 个字符")
        problems_en.append(f"at least {MIN_LENGTH} characters")
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 3:
        problems_zh.append("包含大写字母、小写字母、数字、符号中的至少三类")
        problems_en.append("three of: lower case, upper case, digit, symbol")
    if username and username.lower() in password.lower():
        problems_zh.append("不能包含用户名")
        problems_en.append("must not contain the user name")
    if password.lower() in _COMMON:
        problems_zh.append("不能使用常见密码")
        problems_en.append("must not be a common password")
    if problems_zh:
        raise ValidationFailed(
            "密码强度不足：" + "；".join(problems_zh),
            en="weak password: " + "; ".join(problems_en),
            code="weak_password",
            details={"rules": problems_en},
        )
