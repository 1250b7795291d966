"""A streaming client of OpenAI-compatible chat completions (OpenAI, vLLM, Ollama, LM Studio, ...).

It speaks only the common subset: ``POST {base_url}/chat/completions`` with
``stream: true``, answered by server-sent events whose ``data`` lines carry
``choices[0].delta.content`` and end with ``data: [DONE]``. Every way the
model can fail ends in one exception, :class:`ModelError`, whose ``cause`` is
safe to log (it never contains the API key).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import httpx

# What a model may say about an error before we stop reading: enough for the log line.
ERROR_BODY_CHARS = 300


class ModelError(Exception):
    """The model gave no usable answer; ``cause`` says why, for the log, ``kind`` for metrics."""

    def __init__(self, cause: str, kind: str = "error") -> None:
        super().__init__(cause)
        self.cause = cause
        self.kind = kind


@dataclass(frozen=True)
class Endpoint:
    """Where and which model to ask."""

    base_url: str
    model: str
    api_key: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        """The chat-completions URL (base URLs conventionally end in ``/v1``)."""
        return f"{self.base_url.rstrip('/')}/chat/completions"


class SseParser:
    """Server-sent events, fed one line at a time, handed out as each event's data."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Take one line (without its line break); the event's data when a blank line ends it."""
        if not line:
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            return data
        if line.startswith(":"):
            return None  # a comment, often sent as a keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None

    def flush(self) -> str | None:
        """The data of a last event the stream did not end with a blank line."""
        return self.feed("")


def chunk_text(chunk: dict[str, Any]) -> tuple[str, bool]:
    """The content of one streamed chunk and whether it finished the answer."""
    if chunk.get("error"):
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise ModelError(f"the model reported an error: {str(message)[:ERROR_BODY_CHARS]}", "error")
    text, finished = "", False
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if isinstance(content, str):
            text += content
        if choice.get("finish_reason"):
            finished = True
    return text, finished


class ChatCompletions:
    """One pooled HTTP client for every model request of this process."""

    def __init__(self, *, timeout: float, client: httpx.AsyncClient | None = None) -> None:
        self.timeout = timeout
        # httpx applies the timeout to connect, write, pool and every read between chunks.
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout))

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self.client.aclose()

    async def stream(self, endpoint: Endpoint, messages: list[dict[str, str]]) -> AsyncGenerator[str, None]:
        """Fragments of the model's answer as they arrive; ModelError when it fails."""
        headers = {"Accept": "text/event-stream"}
        if endpoint.api_key:
            headers["Authorization"] = f"Bearer {endpoint.api_key}"
        body = {"model": endpoint.model, "messages": messages, "stream": True}
        finished = False
        try:
            async with self.client.stream("POST", endpoint.url, json=body, headers=headers) as response:
                if response.status_code != 200:
                    raise ModelError(await _refusal(response), "http")
                parser = SseParser()
                async for line in response.aiter_lines():
                    data = parser.feed(line)
                    if data is None:
                        continue
                    if data.strip() == "[DONE]":
                        return
                    text, done = chunk_text(_json(data))
                    finished = finished or done
                    if text:
                        yield text
                data = parser.flush()
                if data is not None and data.strip() != "[DONE]":
                    text, done = chunk_text(_json(data))
                    finished = finished or done
                    if text:
                        yield text
        except httpx.TimeoutException as exc:
            raise ModelError(f"no answer within {self.timeout:g} s ({type(exc).__name__})", "timeout") from exc
        except httpx.HTTPError as exc:
            if finished:
                return  # the connection dropped after the last chunk: the answer is whole
            raise ModelError(f"the connection to the model failed: {type(exc).__name__}: {exc}", "connection") from exc
        if not finished:
            raise ModelError("the model's stream ended before the answer was complete", "stream")


def _json(data: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise ModelError(f"the model sent a malformed chunk: {data[:80]!r}", "malformed") from exc
    if not isinstance(chunk, dict):
        raise ModelError(f"the model sent a malformed chunk: {data[:80]!r}", "malformed")
    return chunk


async def _refusal(response: httpx.Response) -> str:
    raw = (await response.aread())[:ERROR_BODY_CHARS].decode(errors="replace")
    detail = " ".join(raw.split())
    if response.status_code == 429:
        retry = response.headers.get("retry-after")
        hint = f", retry after {retry} s" if retry else ""
        return f"the model is rate limited (HTTP 429{hint}): {detail}"
    return f"the model answered HTTP {response.status_code}: {detail}"
