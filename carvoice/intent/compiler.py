"""Building the word graph from templates, with limits that refuse a profile whose rules would explode.

Rules are copied into every place they are used and slot values into every slot, so the
builder measures first (`_check_size`) and counts the recogniser's epsilon chains after
(`_check_null_transitions`); every undefined name and rule cycle is reported, not only the first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from carvoice.intent.grammar import (
    MAX_RULE_DEPTH,
    Arc,
    Grammar,
    GrammarError,
    GrammarProblem,
    Rule,
    Sentence,
    SlotType,
)
from carvoice.intent.template import Choice, Expr, Sequence, SlotRef, Word

# Grammar size limits, far above any real profile (the demo car has 1,370 arcs and 2,537 ways
# around optional words for the recogniser, the coffee profile 4,580 and 7,919): above them, a
# profile is refused.
MAX_ARCS = 200_000
MAX_NULL_TRANSITIONS = 500_000


def compile_grammar(
    intents: Mapping[str, Iterable[Sentence]],
    slot_types: Mapping[str, SlotType],
    rules: Mapping[str, Rule],
    lead_in: Expr | None = None,
) -> Grammar:
    """Build the graph; every undefined name and rule cycle is reported, not just the first.

    `lead_in` is optional speech allowed before any command (the tail of the wake
    phrase when the spotter fired early, or the phrase said twice).
    """
    _check_size(intents, slot_types, rules, lead_in)
    builder = _Builder(slot_types, rules)
    start, final = builder.new_state(), builder.new_state()
    if lead_in is not None:
        entry = builder.new_state()
        builder.arcs.append(Arc(start, entry))
        builder.arcs.append(Arc(builder.build(lead_in, start, ()), entry))
        start_of_intents = entry
    else:
        start_of_intents = start
    intent_starts: dict[str, int] = {}
    for name, sentences in intents.items():
        entry = builder.new_state()
        builder.arcs.append(Arc(start_of_intents, entry, tag=("intent", name)))
        intent_starts[name] = entry
        for sentence in sentences:
            builder.origin = sentence.origin
            end = builder.build(sentence.template, entry, ())
            builder.arcs.append(Arc(end, final))
    if builder.problems:
        raise GrammarError(builder.problems)
    grammar = Grammar(start, final, builder.arcs, intent_starts)
    _check_null_transitions(grammar, intents)
    return grammar


def _check_size(
    intents: Mapping[str, Iterable[Sentence]],
    slot_types: Mapping[str, SlotType],
    rules: Mapping[str, Rule],
    lead_in: Expr | None,
) -> None:
    """Refuse, before building anything, a grammar that rules used inside rules would blow up.

    Rules are copied into every place they are used, so a few hundred bytes of rules each using
    the one before twice describe millions of arcs.
    """
    sizes: dict[str, int] = {}
    problems: list[GrammarProblem] = []
    measured: list[tuple[int, Any]] = [(_arcs(lead_in, slot_types, rules, sizes, ()), None)] if lead_in else []
    for sentences in intents.values():
        for sentence in sentences:
            try:
                measured.append((_arcs(sentence.template, slot_types, rules, sizes, ()), sentence.origin))
            except _TooDeep as deep:
                problems.append(GrammarProblem(sentence.origin, 0, str(deep)))
    total = sum(size for size, _ in measured)
    if total > MAX_ARCS:
        size, origin = max(measured, key=lambda m: m[0])
        problems.append(
            GrammarProblem(
                origin,
                0,
                f"the grammar would have {total:,} arcs, this sentence {size:,} (at most {MAX_ARCS:,}): "
                "rules that use other rules several times multiply",
            )
        )
    if problems:
        raise GrammarError(problems)


class _TooDeep(ValueError):
    """Rules used inside rules more than MAX_RULE_DEPTH deep."""


def _arcs(
    expr: Expr,
    slot_types: Mapping[str, SlotType],
    rules: Mapping[str, Rule],
    sizes: dict[str, int],
    stack: tuple[str, ...],
) -> int:
    """How many arcs `_Builder.build` would add for `expr` (rules measured once each)."""
    if isinstance(expr, Word):
        return 1
    if isinstance(expr, Sequence):
        return sum(_arcs(item, slot_types, rules, sizes, stack) for item in expr.items)
    if isinstance(expr, Choice):
        inner = sum(_arcs(option, slot_types, rules, sizes, stack) for option in expr.options)
        return inner + len(expr.options) + expr.optional
    if isinstance(expr, SlotRef):
        slot_type = slot_types.get(expr.type_name)
        values = slot_type.values if slot_type else ()
        return 1 + sum(2 + _arcs(v.spoken, slot_types, rules, sizes, stack) for v in values)
    rule = rules.get(expr.name)
    if rule is None or expr.name in stack:
        return 0  # reported when the grammar is built
    if len(stack) >= MAX_RULE_DEPTH:
        raise _TooDeep(f"rules used inside rules more than {MAX_RULE_DEPTH} deep: {' -> '.join((*stack, expr.name))}")
    if expr.name not in sizes:
        sizes[expr.name] = _arcs(rule.expr, slot_types, rules, sizes, (*stack, expr.name))
    return sizes[expr.name]


def _check_null_transitions(grammar: Grammar, intents: Mapping[str, Iterable[Sentence]]) -> None:
    """The recogniser gets each chain of epsilon arcs as one arc: a long run of optional words
    ("[a] [b] [c] ...") makes that quadratic, so it is bounded too."""
    total = 0
    for state in {arc.src for arc in grammar.arcs}:
        total += len(grammar.null_closure(state))
        if total > MAX_NULL_TRANSITIONS:
            sentences = [s for listed in intents.values() for s in listed]
            worst = max(sentences, key=lambda s: _optional_groups(s.template))
            message = f"more than {MAX_NULL_TRANSITIONS:,} ways around optional words for the recogniser"
            raise GrammarError([GrammarProblem(worst.origin, 0, f"{message}: fewer optional [parts] in a row")])


def _optional_groups(expr: Expr) -> int:
    if isinstance(expr, Choice):
        return expr.optional + sum(_optional_groups(option) for option in expr.options)
    if isinstance(expr, Sequence):
        return sum(_optional_groups(item) for item in expr.items)
    return 0


class _Builder:
    def __init__(self, slot_types: Mapping[str, SlotType], rules: Mapping[str, Rule]) -> None:
        self.slot_types = slot_types
        self.rules = rules
        self.arcs: list[Arc] = []
        self.problems: list[GrammarProblem] = []
        self.origin: Any = None
        self._next_state = 0

    def new_state(self) -> int:
        self._next_state += 1
        return self._next_state - 1

    def build(self, expr: Expr, src: int, rule_stack: tuple[str, ...]) -> int:
        """Append arcs for `expr` starting at `src`; returns the state where it ends."""
        if isinstance(expr, Word):
            dst = self.new_state()
            self.arcs.append(Arc(src, dst, word=expr.text))
            return dst
        if isinstance(expr, Sequence):
            state = src
            for item in expr.items:
                state = self.build(item, state, rule_stack)
            return state
        if isinstance(expr, Choice):
            end = self.new_state()
            for option in expr.options:
                self.arcs.append(Arc(self.build(option, src, rule_stack), end))
            if expr.optional:
                self.arcs.append(Arc(src, end))
            return end
        if isinstance(expr, SlotRef):
            slot_type = self.slot_types.get(expr.type_name)
            if slot_type is None:
                message = f"slot type {expr.type_name!r} is not defined under [slots]"
                return self._problem(expr.column, message, src, (expr.type_name, "slot"))
            end, closed = self.new_state(), self.new_state()
            for value in slot_type.values:
                tagged = self.new_state()
                self.arcs.append(Arc(src, tagged, tag=("slot", expr.name, value.value, expr.type_name)))
                self.arcs.append(Arc(self.build(value.spoken, tagged, rule_stack), end))
            self.arcs.append(Arc(end, closed, tag=("end", expr.name)))
            return closed
        rule = self.rules.get(expr.name)
        if rule is None:
            return self._problem(expr.column, f"rule <{expr.name}> is not defined", src, (expr.name, "rule"))
        if expr.name in rule_stack:
            cycle = " -> ".join((*rule_stack, expr.name))
            return self._problem(expr.column, f"rule <{expr.name}> refers to itself: {cycle}", src)
        outer, self.origin = self.origin, rule.origin  # problems inside a rule belong to the rule
        try:
            return self.build(rule.expr, src, (*rule_stack, expr.name))
        finally:
            self.origin = outer

    def _problem(
        self, column: int, message: str, src: int, undefined: tuple[str, Literal["slot", "rule", ""]] = ("", "")
    ) -> int:
        problem = GrammarProblem(self.origin, column, message, *undefined)
        if problem not in self.problems:
            self.problems.append(problem)
        return src
