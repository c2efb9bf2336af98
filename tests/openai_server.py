"""A real OpenAI-compatible HTTP server on 127.0.0.1, answering with the deterministic fakes.

Model names containing "reflect" answer as `FakeReflectionModel` (a fenced prompt with the next
hint); any other name answers as `FakeTaskModel`. Names are ones litellm has never heard of, as
with a user's own vLLM or llama.cpp server. It counts requests, the most in flight at once, and
keeps each request's Authorization header and model name.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gepa_jupyter.testing import FakeReflectionModel, answer

TASK_MODEL = "my-own-model-7b"
REFLECTION_MODEL = "my-own-reflector-7b"


class FakeOpenAIServer:
    def __init__(self, latency: float = 0.0, require_key: str | None = None):
        self.latency = latency
        self.require_key = require_key
        self.requests: list[dict] = []  # {"model", "authorization", "at"}
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._reflection = FakeReflectionModel()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                body = {"object": "list", "data": [{"id": TASK_MODEL, "object": "model"},
                                                   {"id": REFLECTION_MODEL, "object": "model"}]}
                self._send(200, body)

            def do_POST(self):  # noqa: N802
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                authorization = self.headers.get("Authorization", "")
                with server._lock:
                    server.requests.append({"model": request.get("model"), "authorization": authorization,
                                            "at": time.monotonic()})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.require_key and authorization != f"Bearer {server.require_key}":
                        return self._send(401, {"error": {"message": "invalid api key", "type": "auth"}})
                    if server.latency:
                        time.sleep(server.latency)
                    prompt = "\n".join(str(m.get("content", "")) for m in request.get("messages", []))
                    model = str(request.get("model", ""))
                    text = server._reflection(prompt) if "reflect" in model else answer(prompt)
                    self._send(200, {
                        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                        "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                                  "total_tokens": len(prompt.split()) + len(text.split())},
                    })
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _send(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fake-openai-server", daemon=True)
        self._thread.start()

    def calls(self, model: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if model is None or r["model"] == model)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
