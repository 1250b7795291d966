"""What the assistant says on its own (not from the knowledge base), in Russian or English."""

from __future__ import annotations

_PHRASES = {
    "finding_human": (
        "I'm not sure I can answer that correctly, so I'm passing your question to a colleague. "
        "An operator will reply here shortly.",
        "Не хочу ответить неточно, поэтому передаю ваш вопрос коллеге — оператор скоро ответит здесь же.",
    ),
    "calling_human": (
        "Of course, I'm calling an operator. They will reply here shortly.",
        "Конечно, зову оператора — он скоро ответит здесь же.",
    ),
    "fallback": (
        "Sorry, I can't answer right now. I've passed your question to an operator, who will reply here shortly.",
        "Извините, сейчас я не могу ответить. Я передал ваш вопрос оператору — он скоро ответит здесь же.",
    ),
    "greeting": ("Hello! What can I help you with?", "Здравствуйте! Чем могу помочь?"),
    "thanks": ("You're welcome! Anything else I can help with?", "Пожалуйста! Могу ещё чем-нибудь помочь?"),
}


def phrase(key: str, *, russian: bool) -> str:
    """One of the assistant's own sentences, in the visitor's language."""
    english, russian_text = _PHRASES[key]
    return russian_text if russian else english
