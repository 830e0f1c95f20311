"""The answer to "are you sure?": a tiny yes/no grammar, and what counts as a clear answer.

The safety rules decide when to ask; the recogniser listens with this grammar for the answer.
"""

from __future__ import annotations

from typing import Literal

from carvoice.intent import Grammar, Sentence, compile_grammar, parse_template
from carvoice.intent.grammar import expansions

Answer = Literal["yes", "no"]
YES: Answer = "yes"
NO: Answer = "no"
ANSWERS: dict[str, list[str]] = {
    YES: ["yes [please]", "yeah", "yep", "sure", "correct", "do it", "go ahead", "confirm"],
    NO: ["no [thanks]", "nope", "cancel", "stop", "never mind", "don't", "no don't"],
}


def _compile() -> Grammar:
    intents = {answer: [Sentence(parse_template(text)) for text in texts] for answer, texts in ANSWERS.items()}
    return compile_grammar(intents, {}, {})


ANSWER_GRAMMAR = _compile()


def answer_of(words: tuple[str, ...] | list[str]) -> Answer | None:
    """yes, no, or None when the words are not (only) one of them."""
    readings = {parse.intent for parse in ANSWER_GRAMMAR.parse(list(words))}
    if len(readings) != 1:
        return None
    return YES if readings.pop() == YES else NO


def ways_to_say(answer: str) -> list[tuple[str, ...]]:
    return [form for text in ANSWERS[answer] for form in expansions(parse_template(text), {})]
