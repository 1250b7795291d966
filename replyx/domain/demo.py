"""The demo that ``replyx serve --demo`` sets up: an owner, an operator login and an assistant with a FAQ."""

from __future__ import annotations

import secrets
from typing import Any

from replyx.db.models import Assistant
from replyx.domain import assistants, operators
from replyx.domain.context import ChatContext

DEMO_EMAIL = "demo@replyx.local"
DEMO_FAQ = [
    {
        "question": "How do I return an item?",
        "answer": "You can return any item within 30 days: open your order and press Return.",
    },
    {
        "question": "How long does delivery take?",
        "answer": "Delivery takes 2-4 working days; you get a tracking link by email.",
    },
    {
        "question": "Как вернуть товар?",
        "answer": "Вернуть товар можно в течение 30 дней: откройте заказ и нажмите «Вернуть».",
    },
    {
        "question": "Сколько идёт доставка?",
        "answer": "Доставка занимает 2–4 рабочих дня, ссылку для отслеживания пришлём на почту.",
    },
]


async def seed_demo(ctx: ChatContext) -> dict[str, Any]:
    """Create (or refresh) the demo owner and assistant; a new password every start."""
    password = secrets.token_urlsafe(12)
    operator = await operators.find_operator(ctx, DEMO_EMAIL)
    if operator is None:
        operator = await operators.create_owner(ctx, email=DEMO_EMAIL, password=password, name="Demo operator")
    else:
        await operators.set_password(ctx, email=DEMO_EMAIL, password=password)
    existing = await assistants.list_for_owner(ctx, operator.owner_id)
    assistant = (
        existing[0]
        if existing
        else await assistants.create(
            ctx,
            owner_id=operator.owner_id,
            fields={
                "name": "Demo shop",
                "greeting": "Hi! I am the demo shop's assistant. Ask me about delivery or returns.",
                "faq": DEMO_FAQ,
            },
        )
    )
    return {
        "email": DEMO_EMAIL,
        "password": password,
        "assistant_id": assistant.id,
        "site_token": assistants.site_token(ctx, assistant),
    }


async def demo_assistant(ctx: ChatContext) -> Assistant | None:
    """The first assistant of the demo owner that ``replyx serve --demo`` creates, if it exists."""
    operator = await operators.find_operator(ctx, DEMO_EMAIL)
    if operator is None:
        return None
    owned = await assistants.list_for_owner(ctx, operator.owner_id)
    return owned[0] if owned else None
