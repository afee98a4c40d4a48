"""Region codes (GB/T 2260 + 3 + 3): a region's subtree is every code that starts with its prefix."""

from __future__ import annotations


def subtree_prefix(code: str) -> str:
    """Province and city codes end in 0000 / 00 and their subtree shares the shorter prefix
    (410200 Kaifeng → 4102, so 410204 鼓楼区 is inside); other codes are their own prefix."""
    if len(code) == 6 and code.endswith("0000"):
        return code[:2]
    if len(code) == 6 and code.endswith("00"):
        return code[:4]
    return code
