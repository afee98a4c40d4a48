"""GeoReport v2 bodies in both formats: XML (schemaless, no namespace, UTF-8 with declaration)
and JSON (the Spark convention: the XML's list elements become arrays)."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Hashable, Iterable
from itertools import islice
from typing import Any, Literal

from starlette.responses import Response

from cityops.services.open311 import Open311Error, clean_text

Format = Literal["json", "xml"]
FORMATS: tuple[Format, ...] = ("json", "xml")
MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

# The element name of each list's items: <services><service/>…, <attributes><attribute/>…
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
    "notes": "note",
    "photos": "photo",
}


def _fill(el: ET.Element, value: Any, name: str) -> None:
    if value is None:
        return  # <account_id/>: the empty element stands for null
    if isinstance(value, bool):
        el.text = "true" if value else "false"
    elif isinstance(value, int | float):
        el.text = repr(value)
    elif isinstance(value, str):
        el.text = clean_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _fill(ET.SubElement(el, key), item, key)
    elif isinstance(value, list | tuple):
        child = ITEMS.get(name, "item")
        for item in value:
            _fill(ET.SubElement(el, child), item, child)
    else:
        el.text = clean_text(str(value))


def to_xml(root: str, data: Any) -> bytes:
    el = ET.Element(root)
    _fill(el, data, root)
    return XML_DECLARATION + ET.tostring(el, encoding="unicode").encode("utf-8")


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # one, not one per call


def to_json(data: Any) -> bytes:
    return _JSON.encode(data).encode("utf-8")


def body_of(fmt: Format, root: str, data: Any) -> bytes:
    return to_xml(root, data) if fmt == "xml" else to_json(data)


def respond(
    fmt: Format, body: bytes, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(body, status_code=status, headers=headers, media_type=MEDIA_TYPES[fmt])


def render(
    fmt: Format,
    root: str,
    data: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return respond(fmt, body_of(fmt, root, data), status=status, headers=headers)


def error_response(fmt: Format, exc: Open311Error, locale: str) -> Response:
    """GeoReport v2, Errors: an array of {code, description}; ``<errors><error>`` in XML."""
    errors = [{"code": exc.status, "description": m} for m in exc.messages(locale)]
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return render(fmt, "errors", errors, status=exc.status, headers=headers)


def json_array(elements: Iterable[bytes]) -> bytes:
    """The elements (each ``to_json`` of one item) as ``to_json`` writes the list of them."""
    return b"[" + b",".join(elements) + b"]"


class ElementCache:
    """Rendered elements by key (bytes), at most ``limit``; the oldest are dropped first.

    For the elements of long lists that are asked for again and again (the public list of
    recent requests): a key names the exact state of what was rendered, so an entry is never
    stale, only unused until it is dropped."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._data: dict[Hashable, bytes] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable) -> bytes | None:
        return self._data.get(key)

    def get_many(self, keys: Iterable[Hashable]) -> list[bytes | None]:
        """``get`` of each key (a page's elements: one call, not one per element)."""
        get = self._data.get
        return [get(key) for key in keys]

    def put(self, items: Iterable[tuple[Hashable, bytes]]) -> None:
        with self._lock:
            self._data.update(items)
            over = len(self._data) - self.limit
            if over > 0:  # drop a tenth more than needed: not again on the next put
                for key in list(islice(self._data, over + self.limit // 10)):
                    del self._data[key]
