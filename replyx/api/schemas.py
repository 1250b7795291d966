"""Request bodies of the REST API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_Body):
    """Operator credentials."""

    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class PasswordChangeIn(_Body):
    """The operator's current password and the one to replace it."""

    current_password: str = Field(max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class FaqEntry(_Body):
    """One question and its answer in an assistant's knowledge base."""

    question: str = Field(min_length=1, max_length=1000)
    answer: str = Field(min_length=1, max_length=8000)


class AssistantIn(_Body):
    """A new assistant."""

    name: str = Field(min_length=1, max_length=200)
    greeting: str | None = Field(default=None, max_length=2000)
    allowed_domains: list[str] | None = Field(default=None, max_length=100)
    faq: list[FaqEntry] | None = Field(default=None, max_length=1000)
    knowledge: str | None = Field(default=None, max_length=200_000)
    instructions: str | None = Field(default=None, max_length=8000)
    llm_model: str | None = Field(default=None, max_length=200)


class AssistantPatch(_Body):
    """Changes to an assistant; absent fields stay as they are."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    greeting: str | None = Field(default=None, max_length=2000)
    allowed_domains: list[str] | None = Field(default=None, max_length=100)
    faq: list[FaqEntry] | None = Field(default=None, max_length=1000)
    knowledge: str | None = Field(default=None, max_length=200_000)
    instructions: str | None = Field(default=None, max_length=8000)
    llm_model: str | None = Field(default=None, max_length=200)


class SiteDialogIn(_Body):
    """A visitor opens or resumes a dialog with a site token."""

    site_token: str = Field(max_length=2000)
    guest_id: str | None = Field(default=None, max_length=64)
    # A guest token of this guest's (any earlier dialog): proves a returning guest is that guest.
    guest_token: str | None = Field(default=None, max_length=2000)


class WidgetDialogIn(_Body):
    """A visitor opens or resumes a dialog with an assistant id."""

    assistant_id: int
    guest_id: str | None = Field(default=None, max_length=64)
    guest_token: str | None = Field(default=None, max_length=2000)


class MessageIn(_Body):
    """A message; the sender comes from the credential, never from here."""

    text: str
    client_id: str | None = Field(default=None, max_length=64)
