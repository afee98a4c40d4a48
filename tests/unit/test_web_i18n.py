"""The UI catalogs: both languages have the same keys, and every text the templates and scripts
ask for by a literal key exists."""

from __future__ import annotations

import re
from importlib.resources import files

from cityops.web.i18n import Translator, catalog

WEB = files("cityops.web")


def _sources(folder: str, suffix: str) -> list[str]:
    root = WEB / folder
    out = []
    for entry in root.iterdir():
        if entry.name.endswith(suffix):
            out.append(entry.read_text(encoding="utf-8"))
    return out


def test_both_languages_have_the_same_keys() -> None:
    zh, en = catalog("zh-CN"), catalog("en")
    assert set(zh) == set(en), sorted(set(zh) ^ set(en))
    assert all(v.strip() for v in [*zh.values(), *en.values()])


def test_every_literal_key_exists() -> None:
    zh = catalog("zh-CN")
    used = set()
    for text in _sources("templates", ".html"):
        used |= set(re.findall(r"\bt\('([a-z][a-z0-9_.-]*)'\s*[,)]", text))
    for text in _sources("static/js", ".js"):
        used |= set(re.findall(r'\bt\("([a-z][a-z0-9_.-]*)"\s*[,)]', text))
    missing = sorted(k for k in used if "." in k and k not in zh)
    assert not missing, missing


def test_translator_fallbacks() -> None:
    en = Translator("en")
    assert en("nav.queue") == "Work queue" and en.en
    assert Translator("fr").lang == "zh-CN"
    assert en("no.such.key") == "no.such.key"
    assert en("time.left", d="3m") == "3m left"
    assert set(en.sections("js")) == {k for k in catalog("en") if k.startswith("js.")}
