"""Reading a POST requests body: capped in size before it is parsed, in any of the three forms a
client may send (form-encoded as the spec says, multipart with ``media`` as the v2.1 draft says,
or JSON), into one ``name → values`` mapping plus the uploaded files."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from cityops.services.open311 import Open311Error, Policy

MEDIA_FIELDS = ("media", "media[]")


@dataclass
class Body:
    values: dict[str, list[str]] = field(default_factory=dict)
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, content)

    def add(self, name: str, value: str) -> None:
        self.values.setdefault(name, []).append(value)


def _too_large(limit: int) -> Open311Error:
    return Open311Error(
        413,
        f"请求体过大（上限 {limit // 1024} KB）",
        f"request body too large (at most {limit // 1024} KB)",
        code="body_too_large",
    )


def _bad(zh: str, en: str) -> Open311Error:
    return Open311Error(400, zh, en, code="bad_body")


async def _read(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise _bad("Content-Length 无效", "invalid Content-Length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # chunked bodies have no Content-Length: count as they come
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _scalar(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def _from_json(raw: bytes, body: Body) -> None:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(f"JSON 无法解析：{exc}", f"the JSON body cannot be parsed: {exc}") from None
    if not isinstance(data, dict):
        raise _bad("JSON 请求体应为对象", "the JSON body must be an object")
    for key, value in data.items():
        if key in ("attribute", "attributes") and isinstance(value, dict):
            for code, answer in value.items():
                answers = answer if isinstance(answer, list) else [answer]
                for a in answers:
                    text = _scalar(a)
                    if text is not None:
                        body.add(f"attribute[{code}][]", text)
            continue
        for item in value if isinstance(value, list) else [value]:
            text = _scalar(item)
            if text is None:
                raise _bad(f"{key} 的取值类型不正确", f"{key} has a value of the wrong type")
            body.add(str(key), text)


async def _replay(raw: bytes) -> AsyncGenerator[bytes, None]:
    yield raw


async def read_body(request: Request, policy: Policy) -> Body:
    content_type = request.headers.get("content-type", "").lower()
    multipart = content_type.startswith("multipart/form-data")
    raw = await _read(request, policy.max_upload_bytes if multipart else policy.max_body_bytes)
    body = Body()
    if multipart:
        parser = MultiPartParser(
            request.headers,
            _replay(raw),
            max_files=policy.max_media,
            max_fields=200,
            max_part_size=64 * 1024,
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise _bad(
                f"multipart 请求体无法解析：{exc.message}", f"bad multipart body: {exc.message}"
            ) from None
        try:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if name not in MEDIA_FIELDS:
                        raise _bad(
                            f"文件只能放在 media 字段：{name}", f"files go in media, not {name}"
                        )
                    body.files.append((value.filename or "", await value.read()))
                else:
                    body.add(name, value)
        finally:
            await form.close()
    elif content_type.startswith("application/json"):
        _from_json(raw, body)
    elif not content_type or content_type.startswith("application/x-www-form-urlencoded"):
        try:
            pairs = parse_qsl(
                raw.decode("utf-8"),  # raw UTF-8 is common too; the spec assumes UTF-8
                keep_blank_values=True,
                encoding="utf-8",
                errors="strict",
                max_num_fields=200,
            )
        except (UnicodeDecodeError, ValueError):
            raise _bad(
                "表单不是有效的 UTF-8 URL 编码", "the form is not valid UTF-8 URL encoding"
            ) from None
        for k, v in pairs:
            body.add(k, v)
    else:
        raise _bad(
            f"不支持的 Content-Type：{content_type}",
            f"unsupported Content-Type {content_type}: use application/x-www-form-urlencoded, "
            "multipart/form-data or application/json",
        )
    for k, v in request.query_params.multi_items():  # some clients put arguments in the URL
        body.add(k, v)
    return body
