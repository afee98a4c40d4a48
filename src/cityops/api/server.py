"""How `cityops serve` runs the app: uvicorn with uvloop and httptools when they are installed.

uvloop (libuv event loop) and httptools (the C HTTP/1.1 parser of Node.js) are pinned
dependencies; on a platform without them uvicorn's pure-Python asyncio loop and h11 are used.
The benchmark baselines (bench/harness.py) run their bare apps with the same options, so a
figure and its baseline share the server stack.
"""

from __future__ import annotations

import importlib.util
from typing import Any


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` besides the app, host and port."""
    options: dict[str, Any] = {}
    if importlib.util.find_spec("uvloop") is not None:
        options["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:
        options["http"] = "httptools"
    return options
