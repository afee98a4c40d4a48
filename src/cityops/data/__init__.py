"""Shipped data files (catalog, boundaries), read through importlib.resources."""

from __future__ import annotations

import csv
import io
from importlib.resources import files
from importlib.resources.abc import Traversable

DATA = files(__name__)


def standard_catalog_rows() -> list[dict[str, str]]:
    """The 403 rows of GB/T 47678.5-2026 as shipped (see data/catalog/README.md)."""
    text = (DATA / "catalog" / "gbt47678_5_catalog.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def boundary_file(adcode: str) -> Traversable:
    return DATA / "boundaries" / f"{adcode}.geojson"


def shipped_cities() -> list[str]:
    return sorted(
        p.name.removesuffix(".geojson")
        for p in (DATA / "boundaries").iterdir()
        if p.name.endswith(".geojson")
    )
