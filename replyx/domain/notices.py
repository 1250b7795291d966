"""System notices: a stable code with arguments that clients translate, and an English fallback text.

A system message stores its notice's code and arguments beside its text; the
message event and REST history carry them as ``notice`` and ``args``
(docs/protocol.md). Clients translate by code and show ``text`` for a code they
do not know, so a new notice is one entry here and one in each front end's
dictionary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NoticeCode(StrEnum):
    """Every notice the server writes into a dialog."""

    HUMAN_REQUESTED = "human_requested"
    OPERATOR_JOINED = "operator_joined"
    ASSISTANT_RETURNED = "assistant_returned"
    CONVERSATION_CLOSED = "conversation_closed"


@dataclass(frozen=True)
class Notice:
    """A notice with its arguments (JSON values only)."""

    code: NoticeCode
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The English fallback for clients that do not know the code."""
        return _fallback(self)


def operator_joined(name: str | None) -> Notice:
    """An operator took the dialog over (from the assistant or from a colleague)."""
    return Notice(NoticeCode.OPERATOR_JOINED, {"operator": name})


HUMAN_REQUESTED = Notice(NoticeCode.HUMAN_REQUESTED)
ASSISTANT_RETURNED = Notice(NoticeCode.ASSISTANT_RETURNED)
CONVERSATION_CLOSED = Notice(NoticeCode.CONVERSATION_CLOSED)


def _fallback(notice: Notice) -> str:
    match notice.code:
        case NoticeCode.HUMAN_REQUESTED:
            return "The visitor asked for a human operator."
        case NoticeCode.OPERATOR_JOINED:
            name = notice.args.get("operator")
            return f"{name} joined the conversation." if name else "An operator joined the conversation."
        case NoticeCode.ASSISTANT_RETURNED:
            return "The assistant is back in the conversation."
        case NoticeCode.CONVERSATION_CLOSED:
            return "The conversation was closed."
