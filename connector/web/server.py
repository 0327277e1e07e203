"""Serving the console with uvicorn: on a thread beside the scheduler (`tokenbooks serve`), or alone
(`tokenbooks web`). Behind a TLS-terminating proxy, uvicorn reads X-Forwarded-For/-Proto only from the
addresses in TOKENBOOKS_WEB__FORWARDED_ALLOW_IPS (uvicorn's --forwarded-allow-ips)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from connector.domain.errors import ConfigError
from connector.health import NextRuns
from connector.shutdown import stop_on_signals
from connector.web.asgi import create_console


class ConsoleServer:
    """The console (and /healthz, /metrics) served by uvicorn on a daemon thread."""

    def __init__(
        self, app: Any, next_runs: NextRuns | None = None, host: str | None = None, port: int | None = None
    ) -> None:
        web = app.settings.web
        config = uvicorn.Config(
            create_console(app, next_runs=next_runs),
            host=host if host is not None else web.host,
            port=port if port is not None else web.port,
            proxy_headers=True,
            forwarded_allow_ips=web.forwarded_allow_ips,
            log_config=None,  # tokenbooks' own logging (logs.py) decides the format
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=10,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="tokenbooks-web", daemon=True)

    @property
    def url(self) -> str:
        socket = self.server.servers[0].sockets[0]
        host, port = socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self, timeout: float = 30.0) -> ConsoleServer:  # float ok: seconds
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                config = self.server.config
                raise ConfigError(
                    f"the console could not listen on {config.host}:{config.port}",
                    fix="is another program using that port? set TOKENBOOKS_WEB__PORT (0 picks a free one)",
                )
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def run_console(app: Any, *, on_ready: Callable[[str], None] | None = None) -> None:
    """`tokenbooks web`: serve until SIGTERM or SIGINT."""
    stop = threading.Event()
    stop_on_signals(app.stopping, then=stop.set)
    server = ConsoleServer(app).start()
    if on_ready:
        on_ready(server.url)
    stop.wait()
    server.stop()
