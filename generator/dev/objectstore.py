"""A real S3-compatible server on 127.0.0.1 for tests and benchmarks: moto's, logging what it is sent.

moto (a test extra) is imported when a server is made, not with this module.
Each request is logged as (method, path, Range, If-None-Match, status, body
bytes, signed): enough to count conditional requests, range reads and bytes
read at the server, and to see that the catalog never signs a request.
"""

from __future__ import annotations

import json
import threading
from typing import Any

LogEntry = tuple[str, str, "str | None", "str | None", int, int, bool]


def get_public_policy(bucket: str) -> str:
    """A bucket policy as public data buckets have: anyone may get and list."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
            {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
        ],
    })


def make_server() -> Any:
    """A started ``LoggedMotoServer`` on 127.0.0.1 and a free port (``.endpoint``, ``.take()``, ``.stop()``)."""
    from moto.moto_server import werkzeug_app
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server as make_wsgi_server

    class LoggedMotoServer(ThreadedMotoServer):
        def __init__(self) -> None:
            super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
            self.log: list[LogEntry] = []
            self.lock = threading.Lock()

        def _server_entry(self) -> None:
            # moto's server allows every origin on every bucket unless told not
            # to (MOTO_DISABLE_GLOBAL_CORS, read at import): then each bucket's
            # own CORS rules answer, as on AWS.
            werkzeug_app.DISABLE_GLOBAL_CORS = True
            app = werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app)
            self._server = make_wsgi_server(
                self._ip_address, self._port, self._logged(app), True, request_handler=werkzeug_app.MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

        def _logged(self, app: Any) -> Any:
            def logged(environ: dict, start_response: Any) -> list[bytes]:
                seen: dict[str, int] = {}

                def start(status: str, headers: Any, exc_info: Any = None) -> Any:
                    seen["status"] = int(status.split()[0])
                    return start_response(status, headers, exc_info)

                body = b"".join(app(environ, start))
                with self.lock:
                    self.log.append((
                        environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), environ.get("HTTP_RANGE"),
                        environ.get("HTTP_IF_NONE_MATCH"), seen.get("status", 0), len(body),
                        "HTTP_AUTHORIZATION" in environ,
                    ))
                return [body]

            return logged

        @property
        def endpoint(self) -> str:
            host, port = self.get_host_and_port()
            return f"http://{host}:{port}"

        def take(self) -> list[LogEntry]:
            with self.lock:
                out, self.log = self.log, []
            return out

    server = LoggedMotoServer()
    server.start()
    return server
