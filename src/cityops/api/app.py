"""The FastAPI application: wiring only; behaviour lives in the services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

from fastapi import FastAPI
from sqlalchemy import text

from cityops import __version__
from cityops.api.docs import install_docs
from cityops.api.errors import install_error_handlers
from cityops.api.open311 import admin as open311_admin
from cityops.api.open311 import routes as open311_routes
from cityops.api.v1 import (
    auth,
    cases,
    catalog,
    components,
    evaluations,
    grids,
    overview,
    regions,
    users,
)
from cityops.services import cityconfig
from cityops.services.calendar import warn_if_provisional
from cityops.settings import Settings, get_settings
from cityops.store.db import make_engine, session_factory
from cityops.store.migrate import current_revision
from cityops.web import pages as web_pages


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.effective_database_url)
    cityconfig.configure(settings.city_config)
    warn_if_provisional(date.today())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="cityops",
        version=__version__,
        summary="城市运行管理服务平台 — city operation management and service platform",
        lifespan=lifespan,
        docs_url=None,  # served from vendored files by install_docs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.secret = settings.effective_secret_key()
    install_error_handlers(app)
    install_docs(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness and database check")
    def healthz() -> dict[str, object]:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        return {
            "status": "ok",
            "version": __version__,
            "database": engine.dialect.name,
            "schema_revision": current_revision(engine),
        }

    # Open311 first: FastAPI tests a path against the routes of every router included before
    # the one that answers it, and the GeoReport reads are the busiest paths. Its paths (its
    # catch-all too) all start with /open311/v2, so it shadows nothing (docs/benchmarks.md).
    app.include_router(open311_routes.router)  # /open311/v2, GeoReport v2
    # Cases first of /api/v1 for the same reason (intake and queues); nothing else under
    # /api/v1 starts with /cases, /tasks or /attachments, so it shadows nothing either.
    for router in (
        cases.router,
        auth.router,
        catalog.router,
        users.router,
        regions.router,
        grids.router,
        components.router,
        open311_admin.router,
        overview.router,
        evaluations.router,
    ):
        app.include_router(router, prefix="/api/v1")
    app.include_router(web_pages.router)  # the web interface (server-rendered pages)
    return app
