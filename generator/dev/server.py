"""A small static HTTP server: ``serve`` previews, ``demo`` data, and tests.

It is aiohttp's static handler, which answers Range requests (suffix ranges
included, as zarr uses them for shard indexes), plus three things tests and
benchmarks need: optional CORS headers, added latency, and a request log.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import web

Hook = Callable[[web.Request], Awaitable[web.StreamResponse | None]]


@dataclass
class RequestLog:
    """Every request the server saw: (method, path, Range header, status, bytes)."""

    entries: list[tuple[str, str, str | None, int, int]] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [e[1] for e in self.entries]

    def clear(self) -> None:
        self.entries.clear()


def make_app(
    root: Path,
    *,
    prefix: str = "/",
    cors: bool = True,
    latency: float = 0.0,
    log: RequestLog | None = None,
    hook: Hook | None = None,
) -> web.Application:
    """Serve ``root`` under ``prefix``. ``hook`` may answer a request itself (fault injection)."""

    @web.middleware
    async def middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if latency:
            await asyncio.sleep(latency)
        resp: web.StreamResponse | None = None
        if hook is not None:
            resp = await hook(request)
        if resp is None:
            try:
                resp = await handler(request)
            except web.HTTPException as e:
                resp = e
        if cors:
            resp.headers["Access-Control-Allow-Origin"] = "*"
            resp.headers["Access-Control-Expose-Headers"] = "Content-Range, Content-Length, ETag"
        if isinstance(resp, web.HTTPException):
            raise resp
        return resp

    app = web.Application(middlewares=[middleware])
    if log is not None:
        async def record(request: web.Request, resp: web.StreamResponse) -> None:
            # Logged at prepare time, when a file response knows its status and length.
            size = resp.content_length or 0
            log.entries.append((request.method, request.path, request.headers.get("Range"), resp.status, size))

        app.on_response_prepare.append(record)
    prefix = "/" + prefix.strip("/")
    if prefix != "/":
        async def to_prefix(request: web.Request) -> web.StreamResponse:
            raise web.HTTPFound(prefix.rstrip("/") + "/index.html")

        app.router.add_get("/", to_prefix)

    async def index(request: web.Request) -> web.StreamResponse:
        # Directory URLs serve their index.html, as GitHub Pages does.
        rel = request.match_info["tail"]
        target = (root / rel / "index.html").resolve()
        if root.resolve() not in target.parents or not target.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(target)

    # Registered before the static route, which would answer a directory with 403.
    app.router.add_get(prefix.rstrip("/") + "/{tail:(.*/)?}", index)
    app.router.add_static(prefix, root, show_index=False, follow_symlinks=False, append_version=False)
    return app


class BackgroundServer:
    """Runs an app on 127.0.0.1 (port 0 by default) in a thread of its own."""

    def __init__(self, app: web.Application, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        self._thread = threading.Thread(target=self._run, name="ngff-catalog-server", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._startup())
        except BaseException as e:  # surfaced to the starting thread
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
        self._loop.close()

    async def _startup(self) -> None:
        # Tests stop servers with requests still hanging; do not wait for them.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
