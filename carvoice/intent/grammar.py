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
from typing import Any, Literal

from carvoice.errors import CarvoiceError
from carvoice.intent.template import Choice, Expr, RuleRef, Sequence, SlotRef, Word

SlotValueType = str | int | float  # a float only for a fraction: 21.5, never 21.0
# How many different readings so far the parser follows into one state (see Grammar.parse).
READINGS_PER_STATE = 16
# Rules used inside rules deeper than this are refused (compiler.py) and not followed here.
MAX_RULE_DEPTH = 8


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
    undefined_kind: Literal["slot", "rule", ""] = ""


class GrammarError(CarvoiceError, ValueError):
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
        self._before_meaning = self._states_before_meaning()

    @property
    def words(self) -> frozenset[str]:
        return frozenset(arc.word for arc in self.arcs if arc.word is not None)

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
            transitions.extend((state, target, 1.0) for target in sorted(self.null_closure(state) - {state}))
        return transitions

    def parse(self, words: Iterable[str]) -> list[Parse]:
        """Every distinct reading of a complete sentence; empty when it is not one.

        The work is linear in the number of words whatever the grammar: at most READINGS_PER_STATE
        readings so far of each intent are followed per state (they share every continuation, so a
        sentence with more is ambiguous and two of them are enough to say so; counting them per
        intent keeps every intent the sentence can mean among its readings).
        """
        configs = self._walk(words)
        readings: list[Parse] = []
        for (state, _), tags in configs.items():
            if state != self.final:
                continue
            reading = _reading(tags)
            if reading not in readings:
                readings.append(reading)
        return readings

    def is_prefix(self, words: Iterable[str]) -> bool:
        """True when the words can still grow into a sentence of the grammar."""
        return bool(self._walk(words))

    def next_words(self, words: Iterable[str]) -> frozenset[str]:
        """The words that can follow these in a sentence of the grammar."""
        return frozenset(
            arc.word for state, _ in self._walk(words) for arc in self._out.get(state, ()) if arc.word is not None
        )

    def may_grow_into_another(self, words: Iterable[str]) -> bool:
        """True when a longer sentence starts with these words and means something else: "set the
        temperature to twenty" may be the start of "... twenty six", while "... twenty six" only
        grows into "... twenty six degrees", which means the same."""
        configs = self._walk(words)
        complete = {meaning for (state, meaning) in configs if state == self.final}
        return any(
            meaning not in complete or state in self._before_meaning
            for (state, meaning) in configs
            if state != self.final
        )

    def _states_before_meaning(self) -> set[int]:
        """The states from which a path still enters an intent or a slot: words said after them add to
        the meaning ("open the window" before "to fifty percent", "a mocha" before "with oat milk")."""
        into: dict[int, list[int]] = {}
        for arc in self.arcs:
            into.setdefault(arc.dst, []).append(arc.src)
        found = {arc.src for arc in self.arcs if arc.tag is not None and arc.tag[0] in ("intent", "slot")}
        stack = list(found)
        while stack:
            for source in into.get(stack.pop(), ()):
                if source not in found:
                    found.add(source)
                    stack.append(source)
        return found

    def _walk(self, words: Iterable[str]) -> dict[tuple[int, tuple], tuple]:
        """(state, meaning so far) -> the tags of one path there, after all the words; empty once stuck."""
        configs = self._closure({(self.start, ("", ())): ()}, 0)
        for position, word in enumerate(words, 1):
            stepped: dict[tuple[int, tuple], tuple] = {}
            for (state, meaning), tags in configs.items():
                for arc in self._out.get(state, ()):
                    if arc.word == word:
                        stepped.setdefault((arc.dst, meaning), tags)
            if not stepped:
                return {}
            configs = self._closure(stepped, position)
        return configs

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

    def _closure(self, configs: dict[tuple[int, tuple], tuple], position: int) -> dict[tuple[int, tuple], tuple]:
        """Follow epsilon arcs, stamping each tag passed with the number of words read so far."""
        result = dict(configs)
        per_state: dict[tuple[int, str], int] = {}  # readings followed into a state, per intent
        for state, (intent, _) in result:
            per_state[state, intent] = per_state.get((state, intent), 0) + 1
        stack = list(result.items())
        while stack:
            (state, meaning), tags = stack.pop()
            for arc in self._out.get(state, ()):
                if arc.word is not None:
                    continue
                key = (arc.dst, _meaning(meaning, arc.tag))
                counted = (arc.dst, key[1][0])
                if key in result or per_state.get(counted, 0) >= READINGS_PER_STATE:
                    continue
                per_state[counted] = per_state.get(counted, 0) + 1
                result[key] = (*tags, (*arc.tag, position)) if arc.tag is not None else tags
                stack.append((key, result[key]))
        return result

    def null_closure(self, state: int) -> set[int]:
        """The states reachable from `state` by epsilon arcs alone."""
        reachable: set[int] = set()
        stack = [state]
        while stack:
            for arc in self._out.get(stack.pop(), ()):
                if arc.word is None and arc.dst not in reachable:
                    reachable.add(arc.dst)
                    stack.append(arc.dst)
        return reachable


def _meaning(meaning: tuple, tag: tuple | None) -> tuple:
    """(intent, sorted slot values) after passing an arc's tag: what makes two readings different."""
    if tag is None or tag[0] == "end":
        return meaning
    intent, slots = meaning
    if tag[0] == "intent":
        return (tag[1], slots)
    return (intent, tuple(sorted({**dict(slots), tag[1]: tag[2]}.items(), key=lambda item: item[0])))


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


def slot_sets(
    expr: Expr,
    rules: Mapping[str, Rule],
    limit: int = 256,
    _stack: tuple[str, ...] = (),
    _memo: dict[str, set[frozenset[str]]] | None = None,
) -> set[frozenset[str]]:
    """The sets of slots one path through a template can fill (for checking actions).

    Each rule is worked out once, and not beyond MAX_RULE_DEPTH (the grammar refuses deeper ones).
    """
    memo = {} if _memo is None else _memo
    if isinstance(expr, Word):
        return {frozenset()}
    if isinstance(expr, SlotRef):
        return {frozenset({expr.name})}
    if isinstance(expr, RuleRef):
        rule = rules.get(expr.name)
        if rule is None or expr.name in _stack or len(_stack) >= MAX_RULE_DEPTH:
            return {frozenset()}
        if expr.name not in memo:
            memo[expr.name] = slot_sets(rule.expr, rules, limit, (*_stack, expr.name), memo)
        return memo[expr.name]
    if isinstance(expr, Choice):
        result: set[frozenset[str]] = {frozenset()} if expr.optional else set()
        for option in expr.options:
            result |= slot_sets(option, rules, limit, _stack, memo)
        return result
    result = {frozenset()}
    for item in expr.items:
        result = {a | b for a in result for b in slot_sets(item, rules, limit, _stack, memo)}
        if len(result) > limit:
            break
    return result


def slot_refs(
    expr: Expr, rules: Mapping[str, Rule], _stack: tuple[str, ...] = (), _memo: dict[str, list[SlotRef]] | None = None
) -> list[SlotRef]:
    """Every slot a template can fill, through its rules too (each written slot once)."""
    memo = {} if _memo is None else _memo
    if isinstance(expr, SlotRef):
        return [expr]
    if isinstance(expr, RuleRef):
        rule = rules.get(expr.name)
        if rule is None or expr.name in _stack or len(_stack) >= MAX_RULE_DEPTH:
            return []
        if expr.name not in memo:
            memo[expr.name] = slot_refs(rule.expr, rules, (*_stack, expr.name), memo)
        return memo[expr.name]
    parts = getattr(expr, "items", getattr(expr, "options", ()))
    return list(dict.fromkeys(ref for part in parts for ref in slot_refs(part, rules, _stack, memo)))


def expansions(expr: Expr, rules: Mapping[str, Rule], limit: int = 16) -> list[tuple[str, ...]]:
    """Word sequences a template (without slots) can be spoken as, at most `limit` of them."""
    if isinstance(expr, Word):
        return [(expr.text,)]
    if isinstance(expr, RuleRef):
        rule = rules.get(expr.name)
        return expansions(rule.expr, rules, limit) if rule is not None else []
    if isinstance(expr, Choice):
        forms = [form for option in expr.options for form in expansions(option, rules, limit)]
        return ([()] if expr.optional else []) + forms[:limit]
    if isinstance(expr, Sequence):
        result: list[tuple[str, ...]] = [()]
        for item in expr.items:
            result = [a + b for a in result for b in expansions(item, rules, limit)][:limit]
        return result
    return []
