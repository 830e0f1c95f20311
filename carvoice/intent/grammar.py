"""Templates compiled into one word graph: the recogniser's grammar and the parser.

The graph is a finite automaton whose arcs carry a word or nothing (epsilon);
epsilon arcs may carry a tag that records which intent a path belongs to and
which slot value it passed through. PocketSphinx gets the arcs as an FSG;
the parser walks the very same arcs, so a sentence is decodable exactly when
it is parseable.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from carvoice.intent.template import Choice, Expr, RuleRef, Sequence, SlotRef, Word

SlotValueType = str | int | float  # a float only for a fraction: 21.5, never 21.0


@dataclass(frozen=True)
class SlotValue:
    value: SlotValueType
    spoken: Expr


@dataclass(frozen=True)
class SlotType:
    name: str
    values: tuple[SlotValue, ...]


@dataclass(frozen=True)
class Sentence:
    """One template of an intent; `origin` is opaque to the grammar and comes back in errors."""

    template: Expr
    origin: Any = None


@dataclass(frozen=True)
class Rule:
    expr: Expr
    origin: Any = None


@dataclass(frozen=True)
class GrammarProblem:
    origin: Any
    column: int
    message: str
    undefined: str = ""  # the slot type or rule that is not defined, for the caller to suggest another
    undefined_kind: str = ""  # "slot" or "rule"


class GrammarError(ValueError):
    def __init__(self, problems: list[GrammarProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Parse:
    intent: str
    slots: tuple[tuple[str, SlotValueType], ...]
    # (slot, slot type, first word, end word) of each slot in the parsed words; not part of the meaning
    spans: tuple[tuple[str, str, int, int], ...] = field(default=(), compare=False)

    @property
    def slot_dict(self) -> dict[str, SlotValueType]:
        return dict(self.slots)


@dataclass(frozen=True)
class Arc:
    src: int
    dst: int
    word: str | None = None
    # ("intent", name) | ("slot", name, value, type) | ("end", name): where a path enters an intent or slot
    tag: tuple[str, ...] | tuple[str, str, SlotValueType, str] | None = None


@dataclass
class Grammar:
    start: int
    final: int
    arcs: list[Arc]
    intent_starts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._out: dict[int, list[Arc]] = {}
        for arc in self.arcs:
            self._out.setdefault(arc.src, []).append(arc)

    @property
    def words(self) -> frozenset[str]:
        return frozenset(arc.word for arc in self.arcs if arc.word is not None)

    @property
    def n_states(self) -> int:
        return 1 + max((max(a.src, a.dst) for a in self.arcs), default=self.final)

    def fsg_transitions(self) -> list[tuple[int, int, float] | tuple[int, int, float, str]]:
        """Arcs as PocketSphinx `create_fsg` transitions.

        The FSG search follows at most one null transition per frame (grammars
        built from JSGF get a closure of their null transitions; `create_fsg`
        does not), so each chain of epsilon arcs becomes one direct null arc.
        Every arc has probability 1: each sentence of the grammar is equally
        welcome, however many choices its template has.
        """
        transitions: list[tuple[int, int, float] | tuple[int, int, float, str]] = [
            (arc.src, arc.dst, 1.0, arc.word) for arc in self.arcs if arc.word is not None
        ]
        for state in {arc.src for arc in self.arcs}:
            reachable: set[int] = set()
            stack = [state]
            while stack:
                for arc in self._out.get(stack.pop(), ()):
                    if arc.word is None and arc.dst not in reachable:
                        reachable.add(arc.dst)
                        stack.append(arc.dst)
            transitions.extend((state, target, 1.0) for target in sorted(reachable - {state}))
        return transitions

    def parse(self, words: Iterable[str]) -> list[Parse]:
        """Every distinct reading of a complete sentence; empty when it is not one."""
        configs = self._closure({(self.start, ())}, 0)
        for position, word in enumerate(words, 1):
            stepped = {
                (arc.dst, tags) for state, tags in configs for arc in self._out.get(state, ()) if arc.word == word
            }
            if not stepped:
                return []
            configs = self._closure(stepped, position)
        readings: list[Parse] = []
        for state, tags in configs:
            if state != self.final:
                continue
            reading = _reading(tags)
            if reading not in readings:
                readings.append(reading)
        return readings

    def is_prefix(self, words: Iterable[str]) -> bool:
        """True when the words can still grow into a sentence of the grammar."""
        configs = self._closure({(self.start, ())}, 0)
        for position, word in enumerate(words, 1):
            stepped = {(a.dst, t) for s, t in configs for a in self._out.get(s, ()) if a.word == word}
            if not stepped:
                return False
            configs = self._closure(stepped, position)
        return True

    def sample(self, intent: str, rng: random.Random) -> str:
        """A random sentence of one intent, for examples and generated test sets."""
        state = self.intent_starts[intent]
        words: list[str] = []
        while state != self.final:
            arc = rng.choice(self._out[state])
            if arc.word is not None:
                words.append(arc.word)
            state = arc.dst
        return " ".join(words)

    def _closure(self, configs: set[tuple[int, tuple]], position: int) -> set[tuple[int, tuple]]:
        """Follow epsilon arcs, stamping each tag passed with the number of words read so far."""
        seen = set(configs)
        stack = list(configs)
        while stack:
            state, tags = stack.pop()
            for arc in self._out.get(state, ()):
                if arc.word is not None:
                    continue
                config = (arc.dst, (*tags, (*arc.tag, position)) if arc.tag is not None else tags)
                if config not in seen:
                    seen.add(config)
                    stack.append(config)
        return seen


def _reading(tags: tuple) -> Parse:
    intent = ""
    slots: dict[str, SlotValueType] = {}
    starts: dict[str, tuple[str, int]] = {}
    spans = []
    for tag in tags:
        if tag[0] == "intent":
            intent = tag[1]
        elif tag[0] == "slot":
            slots[tag[1]] = tag[2]
            starts[tag[1]] = (tag[3], tag[4])
        else:
            spans.append((tag[1], *starts[tag[1]], tag[2]))
    return Parse(intent, tuple(sorted(slots.items())), tuple(spans))


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
    return Grammar(start, final, builder.arcs, intent_starts)


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

    def _problem(self, column: int, message: str, src: int, undefined: tuple[str, str] = ("", "")) -> int:
        problem = GrammarProblem(self.origin, column, message, *undefined)
        if problem not in self.problems:
            self.problems.append(problem)
        return src


def slot_sets(
    expr: Expr, rules: Mapping[str, Rule], limit: int = 256, _stack: tuple[str, ...] = ()
) -> set[frozenset[str]]:
    """The sets of slots one path through a template can fill (for checking actions)."""
    if isinstance(expr, Word):
        return {frozenset()}
    if isinstance(expr, SlotRef):
        return {frozenset({expr.name})}
    if isinstance(expr, RuleRef):
        rule = rules.get(expr.name)
        if rule is None or expr.name in _stack:
            return {frozenset()}
        return slot_sets(rule.expr, rules, limit, (*_stack, expr.name))
    if isinstance(expr, Choice):
        result = {frozenset()} if expr.optional else set()
        for option in expr.options:
            result |= slot_sets(option, rules, limit, _stack)
        return result
    result = {frozenset()}
    for item in expr.items:
        result = {a | b for a in result for b in slot_sets(item, rules, limit, _stack)}
        if len(result) > limit:
            break
    return result


def slot_refs(expr: Expr, rules: Mapping[str, Rule], _stack: tuple[str, ...] = ()) -> list[SlotRef]:
    """Every slot a template can fill, through its rules too."""
    if isinstance(expr, SlotRef):
        return [expr]
    if isinstance(expr, RuleRef):
        rule = rules.get(expr.name)
        if rule is None or expr.name in _stack:
            return []
        return slot_refs(rule.expr, rules, (*_stack, expr.name))
    if isinstance(expr, Sequence):
        return [ref for item in expr.items for ref in slot_refs(item, rules, _stack)]
    if isinstance(expr, Choice):
        return [ref for option in expr.options for ref in slot_refs(option, rules, _stack)]
    return []


def expansions(expr: Expr, rules: Mapping[str, Rule], limit: int = 16) -> list[tuple[str, ...]]:
    """Word sequences a template (without slots) can be spoken as, at most `limit` of them."""
    if isinstance(expr, Word):
        return [(expr.text,)]
    if isinstance(expr, RuleRef):
        rule = rules.get(expr.name)
        return expansions(rule.expr, rules, limit) if rule is not None else []
    if isinstance(expr, Choice):
        result = [form for option in expr.options for form in expansions(option, rules, limit)]
        return ([()] if expr.optional else []) + result[:limit]
    if isinstance(expr, Sequence):
        result: list[tuple[str, ...]] = [()]
        for item in expr.items:
            result = [a + b for a in result for b in expansions(item, rules, limit)][:limit]
        return result
    return []
