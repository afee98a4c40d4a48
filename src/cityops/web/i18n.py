"""UI texts as data: one TOML catalog per language (``i18n/zh-CN.toml`` is the reference).

Keys are dotted paths (``[queue] title = "…"`` → ``queue.title``). A missing key falls back to
Chinese, then to the key itself, so a page never breaks on a missing text (a test checks that
both catalogs have every key the templates use).
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files
from typing import Any

LANGS = ("zh-CN", "en")
DEFAULT = "zh-CN"


def _flatten(prefix: str, table: dict[str, Any], out: dict[str, str]) -> None:
    for k, v in table.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            _flatten(key, v, out)
        else:
            out[key] = str(v)


@cache
def catalog(lang: str) -> dict[str, str]:
    text = (files("cityops.web") / "i18n" / f"{lang}.toml").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    _flatten("", tomllib.loads(text), out)
    return out


def normalise(lang: str | None) -> str | None:
    if not lang:
        return None
    low = lang.strip().lower()
    if low.startswith("en"):
        return "en"
    if low.startswith("zh"):
        return "zh-CN"
    return None


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else DEFAULT
        self._msgs = catalog(self.lang)
        self._fallback = catalog(DEFAULT)

    def __call__(self, key: str, **kwargs: object) -> str:
        text = self._msgs.get(key) or self._fallback.get(key) or key
        return text.format(**kwargs) if kwargs else text

    def sections(self, *prefixes: str) -> dict[str, str]:
        """Every key under the given sections (for the scripts), Chinese filling gaps."""
        ps = tuple(p + "." for p in prefixes)
        merged = {k: v for k, v in self._fallback.items() if k.startswith(ps)}
        merged.update({k: v for k, v in self._msgs.items() if k.startswith(ps)})
        return merged

    @property
    def en(self) -> bool:
        return self.lang == "en"
