"""Words of questions: stems, language, human requests, small talk."""

from __future__ import annotations

import pytest

from replyx.assistant.text import asks_for_human, is_russian, small_talk, stem, tokenize


def test_russian_forms_of_one_word_share_a_stem() -> None:
    assert stem("товар") == stem("товара") == stem("товаров")
    assert stem("доставка") == stem("доставки") == stem("доставкой")


def test_english_forms_share_a_stem() -> None:
    assert stem("returns") == stem("returning") == stem("return")


def test_tokenize_drops_question_words_and_keeps_topic_words() -> None:
    tokens = tokenize("Как вернуть товар?")
    assert stem("вернуть") in tokens and stem("товар") in tokens
    assert "как" not in tokens
    assert tokenize("How do I return it?") == [stem("return"), stem("return")[:5] + "~"]


def test_yo_is_folded_into_ye() -> None:
    assert tokenize("ещё идёт") == tokenize("еще идет")


def test_prefix_tokens_bridge_derivations() -> None:
    assert set(tokenize("delivery")) & set(tokenize("deliver"))
    assert set(tokenize("доставка")) & set(tokenize("доставить"))


@pytest.mark.parametrize(
    "text",
    [
        "Позовите оператора",
        "Можно поговорить с человеком?",
        "operator please",
        "I want a HUMAN",
        "talk to a real person",
    ],
)
def test_requests_for_a_person_are_recognised(text: str) -> None:
    assert asks_for_human(text)


@pytest.mark.parametrize("text", ["What are your hours of operation?", "Как вернуть товар?", "Humanitarian aid?"])
def test_ordinary_questions_are_not_requests_for_a_person(text: str) -> None:
    assert not asks_for_human(text)


def test_language_follows_the_letters() -> None:
    assert is_russian("Как вернуть товар?")
    assert not is_russian("How do I return an iPhone?")
    assert is_russian("Где мой iPhone?")
    assert not is_russian("12345")


def test_small_talk() -> None:
    assert small_talk("Привет!") == "greeting"
    assert small_talk("Good morning") == "greeting"
    assert small_talk("Спасибо большое") == "thanks"
    assert small_talk("thank you") == "thanks"
    assert small_talk("Привет, как вернуть товар?") is None
