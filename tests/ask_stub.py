"""An OpenAI-compatible chat-completions server on 127.0.0.1 that replies from a script.

Tests point the real ``openai`` client at it and script what "the model"
says, then look at what the client sent::

    with OpenAIStub() as stub:
        stub.script([
            completion(tool_calls=[tool_call("get_kpis", {})]),
            completion("Revenue was 1,234.5."),
        ])
        client = OpenAI(api_key="test", base_url=stub.base_url + "/v1", max_retries=0)
        ...
        assert stub.requests[1].tool_messages()[0] == ...

Each ``POST .../chat/completions`` takes the next scripted reply (a
``StubReply``, or a function of the ``StubRequest`` returning one, to answer
from what the client sent). An unscripted request gets a 500 that the client
is told not to retry, and is counted in ``unexpected``; so does a reply
function that raises (the exception is kept in ``errors``). Every request,
of any path, is recorded.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_USAGE: Mapping[str, int] = {
    "prompt_tokens": 50,
    "completion_tokens": 10,
    "total_tokens": 60,
}
_ids = itertools.count(1)


@dataclass(frozen=True)
class StubReply:
    """One scripted HTTP response; ``delay`` seconds pass before it is sent."""

    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class StubRequest:
    """A request the stub received: header names in lower case, ``json`` the parsed body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    json: Any

    def messages(self) -> list[dict[str, Any]]:
        return list((self.json or {}).get("messages", []))

    def tool_messages(self) -> list[str]:
        """The contents of the ``tool`` messages sent, in order."""
        return [m["content"] for m in self.messages() if m.get("role") == "tool"]

    def tool_names(self) -> list[str]:
        """The names of the tools offered to the model."""
        return [t["function"]["name"] for t in (self.json or {}).get("tools", [])]


Script = StubReply | Callable[[StubRequest], StubReply]


def tool_call(
    name: str, arguments: str | Mapping[str, Any] = "{}", call_id: str | None = None
) -> dict[str, Any]:
    """A function tool call as a model sends it; a str ``arguments`` is sent verbatim."""
    return {
        "id": call_id or f"call_{next(_ids)}",
        "type": "function",
        "function": {
            "name": name,
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
        },
    }


def completion(
    content: str | None = None,
    *,
    tool_calls: Sequence[Mapping[str, Any]] = (),
    usage: Mapping[str, int] | None = DEFAULT_USAGE,
    model: str = "stub-model",
    delay: float = 0.0,
) -> StubReply:
    """A chat completion: prose, tool calls, or both; ``usage=None`` sends ``"usage": null``."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [dict(call) for call in tool_calls]
    body = {
        "id": f"chatcmpl-stub-{next(_ids)}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
        ],
        "usage": None if usage is None else dict(usage),
    }
    return StubReply(200, body, delay=delay)


def error_reply(
    status: int,
    message: str,
    *,
    type: str = "server_error",
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> StubReply:
    """An error in the OpenAI API's shape."""
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return StubReply(status, body, headers=dict(headers or {}))


def rate_limited(retry_after_ms: int = 1, code: str = "rate_limit_exceeded") -> StubReply:
    """A 429; ``retry-after-ms`` keeps a retrying client's wait short."""
    return error_reply(
        429,
        "Rate limit reached for requests",
        type="requests",
        code=code,
        headers={"retry-after-ms": str(retry_after_ms)},
    )


def server_error(status: int = 500) -> StubReply:
    return error_reply(
        status,
        "The server had an error while processing your request.",
        headers={"retry-after-ms": "1"},
    )


class OpenAIStub:
    """The stub server, on a free port of 127.0.0.1, in a background thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[Script] = deque()
        self._requests: list[StubRequest] = []
        self._stopping = threading.Event()
        self.unexpected = 0
        self.errors: list[Exception] = []  # raised by scripted reply functions
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``; the OpenAI client wants ``base_url + "/v1"``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, replies: Iterable[Script]) -> None:
        """Queue replies for the next chat-completions requests, in order."""
        with self._lock:
            self._script.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not yet used."""
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[StubRequest]:
        """Every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def start(self) -> OpenAIStub:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() waits for the loop
            name="openai-stub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes replies still waiting out their delay
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _reply(self, request: StubRequest) -> StubReply:
        with self._lock:
            self._requests.append(request)
            if not request.path.rstrip("/").endswith("/chat/completions"):
                return error_reply(404, f"stub: no route {request.method} {request.path}")
            if not self._script:
                self.unexpected += 1
                return error_reply(
                    500, "stub: no scripted reply left", headers={"x-should-retry": "false"}
                )
            scripted = self._script.popleft()
        if not callable(scripted):
            return scripted
        try:
            return scripted(request)
        except Exception as error:
            with self._lock:
                self.errors.append(error)
            return error_reply(
                500,
                f"stub: the scripted reply failed: {error!r}",
                headers={"x-should-retry": "false"},
            )


def _handler_class(stub: OpenAIStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10  # an idle keep-alive connection does not hold its thread forever

        def do_POST(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = StubRequest(self.command, self.path, headers, raw, parsed)
            reply = stub._reply(request)
            if reply.delay and stub._stopping.wait(reply.delay):
                return
            payload = (
                reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            )
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-request-id", f"req_stub_{len(stub.requests)}")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
