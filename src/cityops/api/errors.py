"""One error body for every failure: ``{"error": {"code", "message", "details"}}``, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cityops.core.errors import CityopsError

log = logging.getLogger("cityops.api")


def request_locale(request: Request) -> str:
    """``en`` when the client prefers English (Accept-Language or ?lang=en), else zh-CN."""
    lang = request.query_params.get("lang") or request.headers.get("accept-language", "")
    first = lang.split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh-CN"


def error_body(code: str, message: str, details: object = None) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "details": details}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CityopsError)
    async def _domain(request: Request, exc: CityopsError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(
            {"error": exc.to_dict(request_locale(request))}, status_code=exc.status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        en = request_locale(request) == "en"
        details = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        fields = ", ".join(d["field"] for d in details)
        message = f"invalid request: {fields}" if en else f"请求参数不正确：{fields}"
        return JSONResponse(error_body("invalid_request", message, details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        en = request_locale(request) == "en"
        texts = {
            404: ("not_found", "未找到该资源", "not found"),
            405: ("method_not_allowed", "不支持该请求方法", "method not allowed"),
        }
        code, zh, en_text = texts.get(
            exc.status_code, ("http_error", str(exc.detail), str(exc.detail))
        )
        return JSONResponse(
            error_body(code, en_text if en else zh),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        en = request_locale(request) == "en"
        message = "internal error; it has been logged" if en else "服务器内部错误，已记录日志"
        return JSONResponse(error_body("internal_error", message), status_code=500)
