"""Tables of replyx: owners, operators, assistants, dialogs and their messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Ids and seqs are 64-bit integers in every database: a client's number beyond this names nothing
# (and would overflow the driver), so lookups treat it as absent instead of sending it to storage.
MAX_ID = 2**63 - 1


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Owner(Base):
    """A business account: its operators see only its assistants and dialogs."""

    __tablename__ = "owner"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Operator(Base):
    """A person who logs in to the admin panel."""

    __tablename__ = "operator"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owner.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    # In every token issued; bumped by a logout, a password change or a deactivation, which ends
    # every session the operator has (replyx.domain.operators.end_sessions).
    token_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Assistant(Base):
    """A chat configuration embedded on a site: greeting, domains, knowledge."""

    __tablename__ = "assistant"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owner.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    greeting: Mapped[str] = mapped_column(Text, default="")
    allowed_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    faq: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    knowledge: Mapped[str] = mapped_column(Text, default="")
    instructions: Mapped[str] = mapped_column(Text, default="")
    llm_model: Mapped[str] = mapped_column(String(200), default="")
    # Bumped by rotate-token: site tokens carrying an older version stop working.
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Dialog(Base):
    """One conversation between a guest and an owner's assistant or operators."""

    __tablename__ = "dialog"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owner.id", ondelete="CASCADE"), index=True)
    assistant_id: Mapped[int] = mapped_column(ForeignKey("assistant.id", ondelete="CASCADE"), index=True)
    guest_id: Mapped[str] = mapped_column(String(64), index=True)
    # The address the dialog was opened from, for blocking a visitor who abuses the chat.
    visitor_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # A DialogStatus (replyx.domain.status); tables do not import the domain, so its first value is spelled here.
    status: Mapped[str] = mapped_column(String(16), default="ai", index=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator.id", ondelete="SET NULL"), nullable=True)
    # The per-dialog sequence: incremented in the same transaction as each insert.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    visitor_read_seq: Mapped[int] = mapped_column(Integer, default=0)
    operator_read_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Message(Base):
    """A stored message; ``seq`` orders it within its dialog, gapless from 1."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("dialog_id", "seq", name="uq_message_dialog_seq"),
        UniqueConstraint("dialog_id", "client_id", name="uq_message_dialog_client"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dialog_id: Mapped[int] = mapped_column(ForeignKey("dialog.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    sender: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator.id", ondelete="SET NULL"), nullable=True)
    # A system notice's code and arguments (replyx.domain.notices); ``text`` is its English fallback.
    notice: Mapped[str | None] = mapped_column(String(40), nullable=True)
    notice_args: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BlockedVisitor(Base):
    """A visitor an owner refuses, by guest id or by address: their new dialogs are refused."""

    __tablename__ = "blocked_visitor"
    __table_args__ = (UniqueConstraint("owner_id", "kind", "value", name="uq_blocked_visitor"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owner.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "guest" or "address"
    value: Mapped[str] = mapped_column(String(64))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operator.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
