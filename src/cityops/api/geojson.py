"""The HTTP side of GeoJSON: a response class for map layers."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse


class GeoJSONResponse(JSONResponse):
    """``application/geo+json``, compact, UTF-8 names unescaped.

    Map layers can hold ten thousand features; returning a ``Response`` skips FastAPI's
    per-value ``jsonable_encoder`` walk, which would cost more than the query.
    """

    media_type = "application/geo+json"

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
