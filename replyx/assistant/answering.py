"""The assistant's responder: answers visitors while a dialog is in state ``ai``.

It runs as a background task started by the write path (never on the request
path) and always answers through the write path with sender ``assistant``.
Without a model it answers from the knowledge base; with one
(``REPLYX_LLM_BASE_URL`` and a model name) it streams the model's answer as
``message_delta`` events, then stores the whole answer once. Anything that
goes wrong ends in a polite fallback and a handoff request. docs/assistant.md
tells the whole story.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from replyx import wire
from replyx.assistant import phrases, prompt
from replyx.assistant.knowledge import Hit, KnowledgeBase, fingerprint
from replyx.assistant.llm import ChatCompletions, Endpoint, ModelError
from replyx.assistant.text import asks_for_human, is_russian, small_talk
from replyx.config import Settings
from replyx.db.models import Assistant, Dialog
from replyx.diagnostics import metrics
from replyx.domain.context import ChatContext
from replyx.domain.errors import DomainError
from replyx.domain.handoff import request_human
from replyx.domain.messages import Author, append_message, list_messages, publish, send_typing, validate_text
from replyx.domain.status import DialogStatus

log = logging.getLogger("replyx.assistant")

ASSISTANT = Author(sender="assistant")
# Share of the question's weight the best passage must cover to be given as the answer;
# measured on tests/assistant/fixtures/shop_kb.json, where wrong-topic questions stay below 0.4.
MIN_CONFIDENCE = 0.4
# Passages offered to the model: the few best are what it needs, more only costs tokens.
CONTEXT_PASSAGES = 3
# Token-sized fragments are merged for this long: about 20 events a second reads as smooth
# typing and keeps the broker's load per answer small.
DELTA_INTERVAL = 0.05
# While streaming, the dialog's status is re-read this often, so a takeover stops the model.
STATUS_CHECK_INTERVAL = 1.0
# Indexes kept in memory; each is rebuilt only when its assistant's knowledge changes.
CACHED_INDEXES = 256
# Above this many passages a search runs in a thread; below, it costs well under a millisecond.
INLINE_SEARCH_PASSAGES = 2000


@dataclass(frozen=True)
class Facts:
    """What one answer needs to know about its dialog and assistant, read once."""

    dialog_id: int
    status: str
    assistant_id: int
    name: str
    faq: list[dict[str, Any]]
    knowledge: str
    instructions: str
    llm_model: str


class Dropped(Exception):
    """The dialog left state ``ai`` while the answer was being made."""


class DeltaPublisher:
    """Publishes an answer's fragments as ``message_delta`` events, merged over DELTA_INTERVAL.

    A timer, not the next fragment, sends what is pending, so text the model
    streamed before a pause reaches the sockets without waiting for the pause to end.
    """

    def __init__(self, ctx: ChatContext, dialog_id: int, stream_id: str) -> None:
        self.ctx = ctx
        self.dialog_id = dialog_id
        self.stream_id = stream_id
        self._pending = ""
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, text: str) -> None:
        """Queue a fragment for the next event."""
        self._pending += text

    async def __aenter__(self) -> DeltaPublisher:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._done.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), DELTA_INTERVAL)
            await self._flush()

    async def _flush(self) -> None:
        if not self._pending:
            return
        text, self._pending = self._pending, ""
        event = wire.message_delta_event(self.dialog_id, self.stream_id, text)
        try:
            await publish(self.ctx, self.dialog_id, None, event)
        except Exception as error:
            # The stored final message still reaches everyone; a lost fragment only shows late.
            log.warning("Could not publish a fragment of the answer in dialog %s: %r", self.dialog_id, error)


class AssistantResponder:
    """Answers visitor messages from the knowledge base or from a configured model."""

    def __init__(self, settings: Settings, *, model: ChatCompletions | None = None) -> None:
        self.settings = settings
        self.model = model or ChatCompletions(timeout=settings.llm_timeout)
        self._indexes: OrderedDict[int, tuple[str, asyncio.Future[KnowledgeBase]]] = OrderedDict()
        self._turns: dict[int, tuple[asyncio.Lock, int]] = {}

    async def aclose(self) -> None:
        """Release the model client's connections."""
        await self.model.aclose()

    async def respond(self, ctx: ChatContext, *, dialog_id: int, message: dict[str, Any]) -> None:
        """Answer one visitor message; errors are logged, never raised into the write path."""
        async with self._turn(dialog_id):
            try:
                await self._respond(ctx, dialog_id, message)
            except asyncio.CancelledError:
                raise
            except DomainError as error:
                # Ordinary races, such as the dialog being closed while the answer was made.
                log.info("Assistant stopped answering in dialog %s: %s", dialog_id, error.detail)
            except Exception:
                log.exception("Assistant failed to answer in dialog %s", dialog_id)

    @contextlib.asynccontextmanager
    async def _turn(self, dialog_id: int) -> AsyncIterator[None]:
        # One answer at a time per dialog, so two quick questions get their answers in order.
        lock, users = self._turns.get(dialog_id, (asyncio.Lock(), 0))
        self._turns[dialog_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._turns[dialog_id]
            if users == 1:
                del self._turns[dialog_id]
            else:
                self._turns[dialog_id] = (lock, users - 1)

    def endpoint(self, facts: Facts) -> Endpoint | None:
        """The model to ask for this assistant, or None to answer from the knowledge base."""
        base_url = self.settings.llm_base_url.strip()
        model = facts.llm_model.strip() or self.settings.llm_model.strip()
        if not base_url or not model:
            return None
        return Endpoint(base_url=base_url, model=model, api_key=self.settings.llm_api_key)

    async def _respond(self, ctx: ChatContext, dialog_id: int, message: dict[str, Any]) -> None:
        facts = await _facts(ctx, dialog_id)
        if facts is None or facts.status != DialogStatus.AI:
            return
        text = message["text"]
        russian = is_russian(text)
        endpoint = self.endpoint(facts)
        knowledge = await self.knowledge(facts)
        silent = endpoint is None and len(knowledge) == 0
        if asks_for_human(text):
            log.info("Visitor of dialog %s asked for a human; handing over", dialog_id)
            if not silent:
                await self._post(ctx, facts, phrases.phrase("calling_human", russian=russian))
            await request_human(ctx, dialog_id=dialog_id)
            return
        if silent:
            # Nothing to answer from: the dialog works as a plain live chat with operators.
            log.info(
                "Assistant %s has no knowledge and no model; dialog %s is left to operators",
                facts.assistant_id,
                dialog_id,
            )
            return
        await send_typing(ctx, dialog_id=dialog_id, sender="assistant", state="start")
        started = time.perf_counter()
        try:
            if endpoint is None:
                await self._answer_from_knowledge(ctx, facts, knowledge, text, russian)
            else:
                await self._answer_from_model(ctx, facts, knowledge, endpoint, message, russian)
        finally:
            kind = "knowledge" if endpoint is None else "model"
            metrics.RESPONDER_LATENCY.labels(kind).observe(time.perf_counter() - started)
            with contextlib.suppress(Exception):
                await send_typing(ctx, dialog_id=dialog_id, sender="assistant", state="stop")

    async def knowledge(self, facts: Facts) -> KnowledgeBase:
        """The assistant's index, built in a thread when its knowledge is new or changed."""
        key = fingerprint(facts.faq, facts.knowledge)
        cached = self._indexes.get(facts.assistant_id)
        if cached is None or cached[0] != key:
            # One build per change, shared by every answer waiting for it.
            build = asyncio.ensure_future(
                asyncio.to_thread(KnowledgeBase.build, faq=facts.faq, knowledge=facts.knowledge)
            )
            cached = (key, build)
            self._indexes[facts.assistant_id] = cached
            while len(self._indexes) > CACHED_INDEXES:
                self._indexes.popitem(last=False)
        self._indexes.move_to_end(facts.assistant_id)
        try:
            return await asyncio.shield(cached[1])
        except Exception:
            if self._indexes.get(facts.assistant_id) is cached:
                del self._indexes[facts.assistant_id]
            raise

    async def search(self, knowledge: KnowledgeBase, question: str, limit: int) -> list[Hit]:
        """The best passages; in a thread only when the corpus is big enough to matter."""
        if len(knowledge) > INLINE_SEARCH_PASSAGES:
            return await asyncio.to_thread(knowledge.search, question, limit)
        return knowledge.search(question, limit)

    async def _answer_from_knowledge(
        self, ctx: ChatContext, facts: Facts, knowledge: KnowledgeBase, text: str, russian: bool
    ) -> None:
        hits = await self.search(knowledge, text, 1)
        if hits and hits[0].confidence >= MIN_CONFIDENCE:
            await self._post(ctx, facts, hits[0].passage.text)
            return
        chat = small_talk(text)
        if chat is not None:
            await self._post(ctx, facts, phrases.phrase(chat, russian=russian))
            return
        best = f"{hits[0].confidence:.2f}" if hits else "none"
        log.info("No confident answer in dialog %s (best confidence %s); handing over", facts.dialog_id, best)
        if await self._post(ctx, facts, phrases.phrase("finding_human", russian=russian)):
            await request_human(ctx, dialog_id=facts.dialog_id)

    async def _answer_from_model(
        self,
        ctx: ChatContext,
        facts: Facts,
        knowledge: KnowledgeBase,
        endpoint: Endpoint,
        message: dict[str, Any],
        russian: bool,
    ) -> None:
        hits = await self.search(knowledge, message["text"], CONTEXT_PASSAGES)
        since = max(0, message["seq"] - self.settings.llm_history)
        history = await list_messages(ctx, dialog_id=facts.dialog_id, since=since, until=message["seq"])
        system = prompt.system_prompt(name=facts.name, instructions=facts.instructions, passages=hits)
        messages = prompt.chat_messages(system=system, history=history)
        stream_id = uuid.uuid4().hex
        try:
            answer = await self._stream(ctx, facts, endpoint, messages, stream_id)
        except Dropped:
            log.info("Dropped the assistant's answer in dialog %s: the dialog left the assistant", facts.dialog_id)
            return
        except ModelError as error:
            metrics.RESPONDER_FAILURES.labels(error.kind).inc()
            log.warning(
                "Assistant model %s failed in dialog %s: %s; sending the fallback and asking for a human",
                endpoint.model,
                facts.dialog_id,
                error.cause,
            )
            if await self._post(ctx, facts, phrases.phrase("fallback", russian=russian), client_id=stream_id):
                await request_human(ctx, dialog_id=facts.dialog_id)
            return
        await self._post(ctx, facts, answer, client_id=stream_id)

    async def _stream(
        self,
        ctx: ChatContext,
        facts: Facts,
        endpoint: Endpoint,
        messages: list[dict[str, str]],
        stream_id: str,
    ) -> str:
        """Publish the model's answer as it comes; returns it whole (cut at the length limit)."""
        loop = asyncio.get_running_loop()
        limit = ctx.settings.max_message_length
        answer = ""
        last_check = loop.time()
        try:
            async with (
                asyncio.timeout(self.settings.llm_total_timeout),
                DeltaPublisher(ctx, facts.dialog_id, stream_id) as deltas,
                contextlib.aclosing(self.model.stream(endpoint, messages)) as fragments,
            ):
                async for fragment in fragments:
                    kept = fragment[: limit - len(answer)]
                    answer += kept
                    deltas.add(kept)
                    if loop.time() - last_check >= STATUS_CHECK_INTERVAL:
                        last_check = loop.time()
                        if await _status(ctx, facts.dialog_id) != DialogStatus.AI:
                            raise Dropped
                    if len(answer) >= limit:
                        log.info("Cut the model's answer in dialog %s at %d characters", facts.dialog_id, limit)
                        break
        except TimeoutError as exc:
            timeout = self.settings.llm_total_timeout
            raise ModelError(f"the answer took longer than {timeout:g} s", "timeout") from exc
        if not answer.strip():
            raise ModelError("the model's answer was empty", "empty")
        return answer

    async def _post(self, ctx: ChatContext, facts: Facts, text: str, client_id: str | None = None) -> bool:
        """Store and publish an assistant message unless an operator took over; True when stored."""
        limit = ctx.settings.max_message_length
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        # A model may emit what storage refuses (NUL, lone surrogates); the write path's rules still apply.
        text = validate_text(ctx, text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8"))
        appended = await append_message(
            ctx,
            dialog_id=facts.dialog_id,
            author=ASSISTANT,
            text=text,
            client_id=client_id,
            in_statuses=(DialogStatus.AI,),
        )
        if not appended.created:
            log.info("Dropped the assistant's answer in dialog %s: the dialog left the assistant", facts.dialog_id)
            return False
        return True


async def _facts(ctx: ChatContext, dialog_id: int) -> Facts | None:
    async with ctx.sessions() as session:
        row = (
            await session.execute(
                select(Dialog, Assistant)
                .join(Assistant, Assistant.id == Dialog.assistant_id)
                .where(Dialog.id == dialog_id)
            )
        ).one_or_none()
    if row is None:
        return None
    dialog, assistant = row
    return Facts(
        dialog_id=dialog.id,
        status=dialog.status,
        assistant_id=assistant.id,
        name=assistant.name,
        faq=list(assistant.faq or []),
        knowledge=assistant.knowledge or "",
        instructions=assistant.instructions or "",
        llm_model=assistant.llm_model or "",
    )


async def _status(ctx: ChatContext, dialog_id: int) -> str | None:
    async with ctx.sessions() as session:
        return await session.scalar(select(Dialog.status).where(Dialog.id == dialog_id))


def create_responder(settings: Settings) -> AssistantResponder:
    """The responder the app wires into its ChatContext."""
    return AssistantResponder(settings)
