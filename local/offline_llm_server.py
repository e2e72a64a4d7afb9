"""The offline model behind a loopback HTTP endpoint shaped like the Anthropic API.

In the as-deployed runtime the LLM steps run as in the cloud: the key comes from the Secrets
Manager secret (the harness stores a non-secret offline key there, as an operator stores the
real one after ``cdk deploy``) and the SDK makes real HTTP requests. ``ANTHROPIC_BASE_URL``, the
SDK's own setting, points them here instead of at the API: the one harness-provided variable of
an LLM step besides ``AWS_ENDPOINT_URL``. Answers come from the same deterministic offline model
(``functions.shared.llm.offline``) the repository mode uses through a mock transport.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2

from functions.shared.llm.offline import offline_model


class OfflineAnthropicServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.httpd = ThreadingHTTPServer((host, 0), self._handler())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="offline-anthropic", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> OfflineAnthropicServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def _handler() -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = httpx2.Request(
                    "POST",
                    f"http://offline{self.path}",
                    headers=dict(self.headers.items()),
                    content=self.rfile.read(length),
                )
                response = offline_model().handle(request)
                body = response.read()
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
