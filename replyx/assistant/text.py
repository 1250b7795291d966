"""Words of visitor questions and knowledge entries: tokens, stems, language and intent.

Pure functions only: they are called from the event loop for every visitor
message, so each stays a few microseconds per word.
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

_WORD = re.compile(r"[^\W_]+")
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
# Prefix tokens bridge derivations the Snowball stemmers keep apart ("delivery"/"deliver",
# "доставка"/"доставить"); five letters are long enough not to merge unrelated words.
PREFIX_LETTERS = 5

# Words that carry no topic: question words, pronouns, auxiliaries, particles.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "without",
        "about",
        "into",
        "over",
        "under",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "doing",
        "have",
        "has",
        "had",
        "having",
        "i",
        "me",
        "my",
        "mine",
        "we",
        "us",
        "our",
        "you",
        "your",
        "yours",
        "he",
        "him",
        "his",
        "she",
        "her",
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "not",
        "no",
        "yes",
        "so",
        "than",
        "then",
        "too",
        "very",
        "just",
        "also",
        "any",
        "some",
        "all",
        "each",
        "please",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "ok",
        "okay",
        "get",
        "got",
        "let",
        "want",
        "wanted",
        "need",
        "s",
        "t",
        "don",
        "doesn",
        "didn",
        "isn",
        "aren",
        "wasn",
        "won",
        "can't",
        "i'm",
        "i've",
        "и",
        "или",
        "а",
        "но",
        "если",
        "то",
        "в",
        "во",
        "на",
        "у",
        "о",
        "об",
        "от",
        "до",
        "по",
        "за",
        "из",
        "к",
        "ко",
        "с",
        "со",
        "без",
        "для",
        "при",
        "про",
        "над",
        "под",
        "через",
        "как",
        "что",
        "кто",
        "где",
        "когда",
        "куда",
        "откуда",
        "почему",
        "зачем",
        "какой",
        "какая",
        "какое",
        "какие",
        "каков",
        "сколько",
        "ли",
        "же",
        "бы",
        "не",
        "ни",
        "да",
        "нет",
        "это",
        "этот",
        "эта",
        "эти",
        "то",
        "тот",
        "та",
        "те",
        "там",
        "тут",
        "здесь",
        "я",
        "мы",
        "вы",
        "ты",
        "он",
        "она",
        "оно",
        "они",
        "меня",
        "мне",
        "нас",
        "нам",
        "вас",
        "вам",
        "вами",
        "тебя",
        "тебе",
        "его",
        "ее",
        "её",
        "их",
        "им",
        "ему",
        "мой",
        "моя",
        "мое",
        "моё",
        "мои",
        "ваш",
        "ваша",
        "ваше",
        "ваши",
        "наш",
        "наша",
        "наше",
        "наши",
        "свой",
        "своя",
        "свое",
        "своё",
        "свои",
        "есть",
        "был",
        "была",
        "было",
        "были",
        "быть",
        "буду",
        "будет",
        "будут",
        "можно",
        "нужно",
        "нужен",
        "нужна",
        "нужны",
        "надо",
        "могу",
        "может",
        "можете",
        "хочу",
        "хотел",
        "хотела",
        "хотим",
        "пожалуйста",
        "подскажите",
        "скажите",
        "привет",
        "здравствуйте",
        "добрый",
        "день",
        "вечер",
        "утро",
        "спасибо",
        "так",
        "уже",
        "еще",
        "ещё",
        "вот",
        "все",
        "всё",
        "весь",
        "очень",
        "только",
    ]
)

_GREETINGS = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "good",
        "morning",
        "afternoon",
        "evening",
        "привет",
        "здравствуйте",
        "здравствуй",
        "добрый",
        "день",
        "вечер",
        "утро",
        "доброе",
    ]
)
_THANKS = frozenset(["thanks", "thank", "you", "thx", "спасибо", "благодарю", "большое"])

# Asking for a person: surface forms, because stems over-match ("operator" and "operation"
# share the English stem "oper").
_HUMAN_REQUEST = re.compile(
    r"\b(?:operators?|humans?|live\s+(?:person|chat)|real\s+person|agent|manager|"
    r"оператор\w*|человек(?:а|у|ом|е)?|менеджер\w*|консультант\w*|специалист\w*)\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=2)
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


def is_russian(text: str) -> bool:
    """True when the text is written in Cyrillic letters (then replies are in Russian)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    cyrillic = sum(1 for c in letters if _CYRILLIC.match(c))
    return cyrillic * 2 >= len(letters)


def words(text: str) -> list[str]:
    """Lower-cased words and numbers of a text, with ё folded into е."""
    return _WORD.findall(text.lower().replace("ё", "е"))


def stem(word: str) -> str:
    """The Snowball stem of one lower-cased word (Russian or English by its letters)."""
    if word.isdigit():
        return word
    language = "russian" if _CYRILLIC.search(word) else "english"
    return str(_stemmer(language).stemWord(word))


def tokenize(text: str) -> list[str]:
    """Index terms of a text: stems of its topical words, plus their five-letter prefixes."""
    tokens: list[str] = []
    for word in words(text):
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        stemmed = stem(word)
        tokens.append(stemmed)
        if len(stemmed) >= PREFIX_LETTERS:
            tokens.append(stemmed[:PREFIX_LETTERS] + "~")
    return tokens


def asks_for_human(text: str) -> bool:
    """True when the visitor asks to talk to a person ("оператор", "operator", "human", ...)."""
    return _HUMAN_REQUEST.search(text) is not None


def small_talk(text: str) -> str | None:
    """``"greeting"`` or ``"thanks"`` when the message is only that, else None."""
    found = words(text)
    if not found or len(found) > 4:
        return None
    if all(w in _THANKS for w in found):
        return "thanks"
    if all(w in _GREETINGS for w in found):
        return "greeting"
    return None
