"""The answer to "are you sure?": a tiny yes/no grammar, and what counts as a clear answer.

The safety rules decide when to ask; the recogniser listens with this grammar for the answer.
"""

from __future__ import annotations

from carvoice.intent import Grammar, Sentence, compile_grammar, parse_template
from carvoice.intent.grammar import expansions

YES = "yes"
NO = "no"
ANSWERS = {
    YES: ["yes [please]", "yeah", "yep", "sure", "correct", "do it", "go ahead", "confirm"],
    NO: ["no [thanks]", "nope", "cancel", "stop", "never mind", "don't", "no don't"],
}


def _compile() -> Grammar:
    intents = {answer: [Sentence(parse_template(text)) for text in texts] for answer, texts in ANSWERS.items()}
    return compile_grammar(intents, {}, {})


ANSWER_GRAMMAR = _compile()


def answer_of(words: tuple[str, ...] | list[str]) -> str | None:
    """yes, no, or None when the words are not (only) one of them."""
    readings = {parse.intent for parse in ANSWER_GRAMMAR.parse(list(words))}
    return readings.pop() if len(readings) == 1 else None


def ways_to_say(answer: str) -> list[tuple[str, ...]]:
    return [form for text in ANSWERS[answer] for form in expansions(parse_template(text), {})]
