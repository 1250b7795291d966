"""The model's prompt: the assistant's instructions, the best knowledge passages and the dialog so far."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from replyx.assistant.knowledge import Hit

BASE_INSTRUCTIONS = (
    "You are {name}, the assistant in the chat of this website. Answer the visitor's last message "
    "briefly and politely, in the language the visitor writes in. Rely on the knowledge base below; "
    "when it does not contain the answer, say so plainly and offer to pass the question to a human "
    "colleague instead of guessing. Never invent prices, dates, policies or contact details."
)
# Roles of stored senders as the model sees them: operators speak for the business too.
ROLES = {"user": "user", "assistant": "assistant", "operator": "assistant"}


def system_prompt(*, name: str, instructions: str, passages: Sequence[Hit]) -> str:
    """Base rules, the owner's instructions, then the passages retrieved for the question."""
    parts = [BASE_INSTRUCTIONS.format(name=name or "the assistant")]
    if instructions.strip():
        parts.append(f"Instructions from the site owner:\n{instructions.strip()}")
    if passages:
        numbered = "\n\n".join(f"[{i}] {hit.passage.as_context()}" for i, hit in enumerate(passages, 1))
        parts.append(f"Knowledge base (the passages most related to the question):\n{numbered}")
    else:
        parts.append("Knowledge base: nothing related to this question was found.")
    return "\n\n".join(parts)


def chat_messages(*, system: str, history: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """The request's messages: the system prompt, then the dialog (system notices left out)."""
    messages = [{"role": "system", "content": system}]
    for message in history:
        role = ROLES.get(message["sender"])
        if role is not None:
            messages.append({"role": role, "content": message["text"]})
    return messages
