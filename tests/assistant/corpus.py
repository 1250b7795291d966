"""The shipped test corpus of the assistant tests: a small shop's knowledge base and questions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.chat import Owner, create_assistant
from tests.support.processes import ReplyxProcess

CORPUS_PATH = Path(__file__).with_name("fixtures") / "shop_kb.json"


def load_corpus() -> dict[str, Any]:
    """FAQ entries, knowledge text, questions with the answer phrase each expects, unrelated questions."""
    return json.loads(CORPUS_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def shop_assistant(server: ReplyxProcess, owner: Owner) -> dict[str, Any]:
    """An assistant with the shipped shop corpus (and no model of its own)."""
    corpus = load_corpus()
    return create_assistant(
        server.url, owner, greeting="Hello! Ask me anything.", faq=corpus["faq"], knowledge=corpus["knowledge"]
    )
