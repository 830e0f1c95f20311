"""Sentence templates compiled into the recogniser's grammar and the intent parser."""

from carvoice.intent.compiler import compile_grammar
from carvoice.intent.grammar import (
    Grammar,
    GrammarError,
    GrammarProblem,
    Parse,
    Rule,
    Sentence,
    SlotType,
    SlotValue,
)
from carvoice.intent.numbers import number_to_words, spoken_forms
from carvoice.intent.template import TemplateError, parse_template

__all__ = [
    "Grammar",
    "GrammarError",
    "GrammarProblem",
    "Parse",
    "Rule",
    "Sentence",
    "SlotType",
    "SlotValue",
    "TemplateError",
    "compile_grammar",
    "number_to_words",
    "parse_template",
    "spoken_forms",
]
