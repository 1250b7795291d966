"""A dialog's status: who answers it now (docs/protocol.md, "Handoff")."""

from __future__ import annotations

from enum import StrEnum


class DialogStatus(StrEnum):
    """Where a dialog stands; a ``str``, so it is stored and sent as its value."""

    AI = "ai"  # the assistant answers
    REQUESTED = "requested"  # a human was asked for and has not joined yet
    OPERATOR = "operator"  # an operator holds the dialog
    CLOSED = "closed"  # ended; the guest's next visit opens a new dialog


# Statuses in which a dialog takes messages.
OPEN_STATUSES: tuple[DialogStatus, ...] = (DialogStatus.AI, DialogStatus.REQUESTED, DialogStatus.OPERATOR)
