"""An OpenAI-compatible model served over real HTTP on 127.0.0.1, for the assistant's tests.

It speaks ``POST /v1/chat/completions`` with ``stream: true`` as server-sent events
in chunked transfer encoding, like vLLM, Ollama or LM Studio. The requested model
name picks the behaviour, so one server plays every part:

* ``ok``: the answer in a dozen quick fragments, then ``[DONE]``;
* ``slow``: the same fragments a quarter of a second apart, about 4 s in all (each gap under the timeout);
* ``gated``: three fragments, then waits for :attr:`FakeModel.gate` before the rest;
* ``error500`` / ``ratelimit``: HTTP 500 / HTTP 429 with a JSON error;
* ``hang``: headers, then silence until the client gives up;
* ``cut``: two fragments, then the connection is dropped mid-stream.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = "You can return any item within 14 days: open My orders, choose the item and press Return."
# Longest a gated or hanging answer waits before giving up on its own.
HOLD_LIMIT = 20.0


def fragments(text: str = ANSWER) -> list[str]:
    """The answer cut into word-sized fragments, as models stream it."""
    words = text.split(" ")
    return [w if i == 0 else f" {w}" for i, w in enumerate(words)]


class FakeModel:
    """The fake model server and what it was asked."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.stopping = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """What REPLYX_LLM_BASE_URL is set to."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> FakeModel:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release held answers and stop serving."""
        self.stopping.set()
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        """The request bodies received for one model name."""
        return [r for r in self.requests if r.get("model") == model]


def _handler(model: FakeModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: pytest shows the test's own output."""

        def do_POST(self) -> None:
            """Answer one chat-completions request."""
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            model.requests.append(body)
            self.close_connection = True
            if self.path != "/v1/chat/completions" or body.get("stream") is not True:
                self._json(404, {"error": {"message": "not found"}})
                return
            behaviour = body.get("model")
            try:
                if behaviour == "error500":
                    self._json(500, {"error": {"message": "the model crashed"}})
                elif behaviour == "ratelimit":
                    self._json(429, {"error": {"message": "too many requests"}}, {"Retry-After": "7"})
                elif behaviour == "hang":
                    self._start_stream()
                    model.stopping.wait(HOLD_LIMIT)
                elif behaviour == "cut":
                    self._start_stream()
                    for fragment in fragments()[:2]:
                        self._event(_chunk(fragment))
                    self.connection.shutdown(2)  # no final chunk: the stream is cut mid-answer
                elif behaviour == "gated":
                    self._start_stream()
                    self._stream(fragments()[:3], pause=0.01)
                    model.gate.wait(HOLD_LIMIT)
                    self._stream(fragments()[3:], pause=0.01, finish=True)
                elif behaviour == "slow":
                    self._start_stream()
                    self._stream(fragments(), pause=0.25, finish=True)
                else:
                    self._start_stream()
                    self._stream(fragments(), pause=0.01, finish=True)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up on us, as it should after its timeout

        def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _start_stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._event(json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}))

        def _event(self, payload: str) -> None:
            data = f"data: {payload}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _stream(self, parts: list[str], *, pause: float, finish: bool = False) -> None:
            for part in parts:
                time.sleep(pause)
                self._event(_chunk(part))
            if finish:
                self._event(json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
                self._event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

    return Handler


def _chunk(text: str) -> str:
    return json.dumps({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]})
