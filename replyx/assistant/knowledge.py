"""One assistant's knowledge base: FAQ entries and knowledge paragraphs, ranked with BM25.

The ranking library is ``bm25s``, chosen over ``rank-bm25`` after comparing both on
FAQ-sized corpora:

* rank-bm25's ``BM25Okapi`` takes ``log((N - df + 0.5) / (df + 0.5))`` as the IDF, which
  is zero or negative for a term found in half the entries or more. An FAQ of two
  entries then scores every question 0, and a one-entry FAQ scores its own question
  below zero, so no confidence threshold can work on the small corpora owners start
  with. bm25s uses Lucene's always-positive IDF.
* bm25s computes every term's score at indexing time into a sparse matrix, so a
  question is a lookup (about 0.2 ms on 2,000 passages against 1 ms for rank-bm25),
  which keeps scoring cheap enough for the event loop; rank-bm25 has had no release
  since 2022.
* Both need only numpy; both take pre-tokenized text, so our Russian and English
  stemming (``replyx.assistant.text``) stays ours.

Confidence is not the raw BM25 score (unbounded, and it grows with corpus size): it is
the share of the question's IDF weight that the best passage contains, from 0 to 1.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import bm25s

from replyx.assistant.text import tokenize

# The question says what an entry is about; the answer only adds detail words.
FAQ_QUESTION_WEIGHT = 2
# Longer paragraphs are cut at sentence ends: a passage is shown as an answer and
# sent to the model as context, where a screenful is plenty.
MAX_PASSAGE_CHARS = 1200
# A single short line without final punctuation above a paragraph is its heading.
MAX_HEADING_CHARS = 80

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


@dataclass(frozen=True)
class Passage:
    """Something the assistant can say: an FAQ answer or a knowledge paragraph."""

    kind: str
    title: str
    text: str

    def as_context(self) -> str:
        """The passage as the model sees it in the system prompt."""
        if self.kind == "faq":
            return f"Q: {self.title}\nA: {self.text}"
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class Hit:
    """A passage found for a question, with its BM25 score and confidence (0 to 1)."""

    passage: Passage
    score: float
    confidence: float


def fingerprint(faq: Sequence[dict[str, Any]], knowledge: str) -> str:
    """A short digest of the knowledge an index was built from, to know when to rebuild it."""
    blob = json.dumps([list(faq), knowledge], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def faq_passages(faq: Iterable[dict[str, Any]]) -> list[Passage]:
    """Passages of the FAQ entries that have both a question and an answer."""
    passages = []
    for entry in faq:
        question = str(entry.get("question") or "").strip()
        answer = str(entry.get("answer") or "").strip()
        if question and answer:
            passages.append(Passage("faq", question, answer))
    return passages


def knowledge_passages(knowledge: str) -> list[Passage]:
    """Paragraphs of free text (split at blank lines), each under its heading if it has one."""
    passages: list[Passage] = []
    heading = ""
    for block in re.split(r"\n\s*\n", knowledge.replace("\r\n", "\n")):
        lines = [line.strip() for line in block.strip().splitlines() if line.strip()]
        if not lines:
            continue
        first = lines[0].lstrip("#").strip()
        if _is_heading(first):
            if len(lines) == 1:
                heading = first
                continue
            heading, lines = first, lines[1:]
        for chunk in _chunks(" ".join(lines)):
            passages.append(Passage("knowledge", heading, chunk))
        heading = ""
    return passages


def _is_heading(line: str) -> bool:
    return bool(line) and len(line) <= MAX_HEADING_CHARS and line[-1] not in ".!?…:;,"


def _chunks(paragraph: str) -> list[str]:
    if len(paragraph) <= MAX_PASSAGE_CHARS:
        return [paragraph]
    chunks: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        if current and len(current) + 1 + len(sentence) > MAX_PASSAGE_CHARS:
            chunks.append(current)
            current = ""
        current = f"{current} {sentence}".strip()
        while len(current) > MAX_PASSAGE_CHARS:
            chunks.append(current[:MAX_PASSAGE_CHARS])
            current = current[MAX_PASSAGE_CHARS:]
    if current:
        chunks.append(current)
    return chunks


def _terms(passage: Passage) -> list[str]:
    if passage.kind == "faq":
        return tokenize(passage.title) * FAQ_QUESTION_WEIGHT + tokenize(passage.text)
    return tokenize(f"{passage.title} {passage.text}")


class KnowledgeBase:
    """A BM25 index over one assistant's passages; built once, searched many times."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        terms = [_terms(p) for p in passages]
        kept = [(p, t) for p, t in zip(passages, terms, strict=True) if t]
        self.passages = [p for p, _ in kept]
        self._term_sets = [frozenset(t) for _, t in kept]
        self._df: Counter[str] = Counter()
        for term_set in self._term_sets:
            self._df.update(term_set)
        self._index: bm25s.BM25 | None = None
        if kept:
            self._index = bm25s.BM25()
            self._index.index([t for _, t in kept], show_progress=False)

    @classmethod
    def build(cls, *, faq: Sequence[dict[str, Any]], knowledge: str) -> KnowledgeBase:
        """The index of an assistant's FAQ and free-text knowledge."""
        return cls([*faq_passages(faq), *knowledge_passages(knowledge)])

    def __len__(self) -> int:
        return len(self.passages)

    def idf(self, term: str) -> float:
        """Lucene's IDF of a term in this corpus (the same formula bm25s scores with)."""
        n, df = len(self.passages), self._df.get(term, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def search(self, question: str, limit: int = 3) -> list[Hit]:
        """The best passages for a question, best first; empty when nothing matches."""
        query = tokenize(question)
        if self._index is None or not query:
            return []
        scores = self._index.get_scores(query)
        ranked = sorted(range(len(scores)), key=lambda i: float(scores[i]), reverse=True)
        weights = {term: self.idf(term) for term in set(query)}
        total = sum(weights.values())
        hits = []
        for i in ranked[:limit]:
            if scores[i] <= 0:
                break
            covered = sum(w for term, w in weights.items() if term in self._term_sets[i])
            hits.append(Hit(self.passages[i], float(scores[i]), covered / total))
        return hits
