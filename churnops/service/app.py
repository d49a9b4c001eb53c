"""Build the FastAPI app. The model is loaded in the lifespan, never at import.

``uvicorn`` workers call :func:`create_app` (``factory=True``) with no arguments, so
settings come from the ``CHURNOPS_*`` environment. Tests pass their own settings,
loader, log and clock: these are the seams.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import logging
import signal
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from churnops.service import http_errors
from churnops.service.clock import Clock, SystemClock
from churnops.service.loader import ModelLoader, RegistryModelLoader
from churnops.service.logwriter import PredictionLog, open_log
from churnops.service.middleware import RequestContextMiddleware
from churnops.service.routes import admin, health, predict
from churnops.service.settings import Settings
from churnops.service.shipper import ArchiveShipper
from churnops.service.state import ModelState

logger = logging.getLogger("churnops.service")

GC_YOUNG_THRESHOLD = 50_000
"""Young-generation GC threshold while the app runs (Python's default is 700). A 10,000-row batch
allocates ~25,000 containers that stay queued for the log writer: at 700 the collector took
3.2 ms of a ~18 ms batch, at 50,000 ~1 ms. Restored when the app stops (tests run apps in-process)."""


def create_app(
    settings: Settings | None = None,
    *,
    loader: ModelLoader | None = None,
    log: PredictionLog | None = None,
    clock: Clock | None = None,
    handle_sighup: bool = True,
) -> FastAPI:
    """The service app; each argument left None takes the production default from ``settings``."""
    settings = settings or Settings.from_env()
    early_hup = threading.Event()
    if handle_sighup and threading.current_thread() is threading.main_thread():
        # Until the lifespan installs the reload handler, SIGHUP's default action would kill
        # this worker. It is only noted: the registry may move after the start-up load has
        # read it, so the lifespan reloads once more if one arrived meanwhile.
        signal.signal(signal.SIGHUP, lambda _signum, _frame: early_hup.set())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ModelState(loader or RegistryModelLoader(settings.repo, settings.registry_ref), settings.run_dir)
        await asyncio.get_running_loop().run_in_executor(None, state.load_now)
        # With an archive, the shipper deletes rotated files (once archived), never the writer.
        backups = 0 if settings.log_archive else settings.log_backups
        plog = log or open_log(settings.log_path, settings.max_log_bytes, backups, settings.log_queue_lines)
        shipper = (
            ArchiveShipper(
                settings.log_path,
                settings.log_archive,
                settings.log_backups,
                settings.log_archive_interval,
                project=settings.repo,  # the served project's DVC remote on that bucket gives the S3 settings
            )
            if settings.log_archive
            else None
        )
        app.state.model_state = state
        app.state.prediction_log = plog
        hup = _install_sighup(state) if handle_sighup else False
        if hup and early_hup.is_set():
            logger.info("SIGHUP during start-up: reloading the model")
            _spawn(state.reload())
        thresholds = gc.get_threshold()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *thresholds[1:])
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            if hup:
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            plog.close()  # flush every queued prediction before the process goes
            if shipper is not None:
                shipper.close()
            state.withdraw()

    app = FastAPI(
        title="churnops",
        summary="Churn predictions from the model the registry names prod",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # served by _offline_docs from local files, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    for routes in (predict, health, admin):
        routes.register(app)
    http_errors.install(app)
    _offline_docs(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    return app


def _install_sighup(state: ModelState) -> bool:
    loop = asyncio.get_running_loop()

    def on_hup() -> None:
        logger.info("SIGHUP: reloading the model")
        _spawn(state.reload())

    try:
        loop.add_signal_handler(signal.SIGHUP, on_hup)
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread (e.g. TestClient)
        return False
    return True


_tasks: set[asyncio.Task[Any]] = set()


def _spawn(coro: Coroutine[Any, Any, Any]) -> None:
    """Run ``coro`` in the background, holding a reference until it ends (the loop keeps only weak ones)."""
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


DOCS_ASSETS = "/docs-assets"


def swagger_ui_dir() -> Path:
    """Swagger UI's files from ``swagger-ui-py``, found, not imported (that pulls in Jinja2 and PyYAML)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed (it is in requirements.lock: run `make setup`)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def _offline_docs(app: FastAPI) -> None:
    """``/docs`` renders with no network: Swagger UI 5 from local files (ReDoc is off).

    Air-gapped machines are common where models are served; FastAPI's default page
    loads everything from a CDN and stays white there.
    """
    from fastapi.openapi.docs import get_swagger_ui_html
    from starlette.staticfiles import StaticFiles

    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_dir()), name="docs-assets")

    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
