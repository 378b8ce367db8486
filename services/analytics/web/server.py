"""uvicorn in a thread of the analytics service, serving the dashboard (services/analytics/web/app.py).

uvicorn installs no signal handler outside the main thread, so SIGTERM stays the service's; stop()
asks the server to finish its requests and waits for the thread.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path

import uvicorn

from services.analytics.web.app import Acker, create_app
from services.analytics.web.config import WebSettings
from services.analytics.web.data import SiteView

log = logging.getLogger(__name__)
START_TIMEOUT_S = 15.0


class WebServerError(RuntimeError):
    """The dashboard cannot listen (address in use, no permission, a bad TLS file)."""


class WebServer:
    def __init__(self, settings: WebSettings, store_path: Path, sites: list[SiteView], acker: Acker) -> None:
        self.settings = settings
        if settings.session_secret is not None:
            key = settings.session_secret.reveal().strip()
        else:  # sessions end at every restart: a login is then asked for again
            key = secrets.token_urlsafe(32)
        app = create_app(settings, store_path, sites, acker, key)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                                access_log=False, lifespan="off", server_header=False,
                                ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
                                ssl_keyfile=str(settings.tls_key) if settings.tls_key else None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name="analytics-web", daemon=True)
        self.error: str | None = None

    def _serve(self) -> None:
        try:
            self.server.run()
        except BaseException as exc:  # uvicorn calls sys.exit(1) when it cannot bind
            self.error = f"{type(exc).__name__}: {exc}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise WebServerError(f"the dashboard cannot listen on {self.settings.host}:"
                                     f"{self.settings.port} ([web] listen): {self.error or 'not started'}")
            time.sleep(0.02)
        log.info("dashboard on %s", self.settings.url)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


__all__ = ["WebServer", "WebServerError"]
