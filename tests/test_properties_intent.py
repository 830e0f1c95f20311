"""Properties of the template language and the compiled grammar, over generated templates.

Random templates are built as small trees and written out as text, so the test has its
own reading of what each template means (the tree) to hold the compiler and parser to.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from carvoice.intent import Grammar, Rule, Sentence, SlotType, SlotValue, compile_grammar, parse_template
from carvoice.intent.grammar import READINGS_PER_STATE, expansions
from carvoice.intent.template import TemplateError

# Few, short, overlapping words: ambiguity and shared prefixes are where parsers go wrong.
VOCABULARY = ("a", "b", "the", "on", "off", "red")
SYMBOLS = ("(", ")", "[", "]", "|", "{", "}", "<", ">", ":", " ", "_", "'", "1", "X", "é", "\t", "\n", "a", "on")


@dataclass(frozen=True)
class Node:
    """One piece of a generated template: kind is word, seq, choice, optional, slot or rule."""

    kind: str
    text: str = ""
    parts: tuple[Node, ...] = ()

    def render(self) -> str:
        if self.kind == "seq":
            return " ".join(p.render() for p in self.parts)
        if self.kind in ("choice", "optional"):
            inner = " | ".join(p.render() for p in self.parts)
            return f"({inner})" if self.kind == "choice" else f"[{inner}]"
        return self.text


def _word(text: str) -> Node:
    return Node("word", text)


def _slot(name: str, type_name: str, typed: bool) -> Node:
    return Node("slot", f"{{{name}:{type_name}}}" if typed else f"{{{type_name}}}")


def _rule(name: str) -> Node:
    return Node("rule", f"<{name}>")


def _group(kind: str, parts: list[Node]) -> Node:
    return Node(kind, parts=tuple(parts))


def trees(leaves: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        return st.builds(
            _group, st.sampled_from(["seq", "choice", "optional"]), st.lists(children, min_size=1, max_size=3)
        )

    return st.recursive(leaves, extend, max_leaves=8)


# Strategies are built once: building them per example costs more than running the test.
SLOT_TYPES = ("colour", "level", "side")
words = st.builds(_word, st.sampled_from(VOCABULARY))
word_trees = trees(words)
template_trees = trees(
    st.one_of(
        words,
        st.builds(_slot, st.sampled_from(["s", "t"]), st.sampled_from(SLOT_TYPES), st.booleans()),
        st.builds(_rule, st.sampled_from(["please", "turn"])),
    )
)
PLEASE = Node("optional", parts=(Node("word", "please"),))
HEY = Node("optional", parts=(Node("word", "hey"),))


@dataclass(frozen=True)
class World:
    """Slot types and rules the generated templates may use, with the trees they were written from."""

    slot_types: dict[str, list[tuple[Any, Node]]]
    rules: dict[str, Node]
    lead_in: Node | None


@st.composite
def worlds(draw: st.DrawFn) -> World:
    slot_types = {}
    for type_name in SLOT_TYPES:
        names = draw(st.lists(st.sampled_from(["x", "y", "z", 1, 2, 30]), min_size=1, max_size=3, unique=True))
        slot_types[type_name] = [(name, draw(word_trees)) for name in names]
    rules = {"please": PLEASE, "turn": draw(word_trees)}
    return World(slot_types, rules, draw(st.sampled_from([None, HEY])))


def compile_world(world: World, intents: dict[str, list[Node]]) -> Grammar:
    slot_types = {
        name: SlotType(name, tuple(SlotValue(value, parse_template(spoken.render())) for value, spoken in values))
        for name, values in world.slot_types.items()
    }
    rules = {name: Rule(parse_template(tree.render())) for name, tree in world.rules.items()}
    sentences = {name: [Sentence(parse_template(t.render())) for t in ts] for name, ts in intents.items()}
    lead_in = parse_template(world.lead_in.render()) if world.lead_in else None
    return compile_grammar(sentences, slot_types, rules, lead_in)


def walk(node: Node, world: World, rng: random.Random, slots: dict[str, Any]) -> list[str]:
    """One random sentence of a tree, filling `slots` as the template language defines them."""
    if node.kind == "word":
        return [node.text]
    if node.kind == "seq":
        return [w for part in node.parts for w in walk(part, world, rng, slots)]
    if node.kind == "optional" and rng.random() < 0.3:
        return []
    if node.kind in ("choice", "optional"):
        return walk(rng.choice(node.parts), world, rng, slots)
    if node.kind == "rule":
        return walk(world.rules[node.text.strip("<>")], world, rng, slots)
    name, _, type_name = node.text.strip("{}").partition(":")
    value, spoken = rng.choice(world.slot_types[type_name or name])
    said = walk(spoken, world, rng, {})
    slots[name] = value
    return said


def fsg_accepts(grammar: Grammar, words: list[str]) -> bool:
    """What PocketSphinx's FSG search accepts: at most one null transition between two words."""
    nulls: dict[int, set[int]] = defaultdict(set)
    arcs: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for transition in grammar.fsg_transitions():
        if len(transition) == 4:
            arcs[transition[0]].append((transition[1], transition[3]))
        else:
            nulls[transition[0]].add(transition[1])

    def null_step(states: set[int]) -> set[int]:
        return states | {target for state in states for target in nulls[state]}

    states = null_step({grammar.start})
    for word in words:
        states = null_step({dst for state in states for dst, w in arcs[state] if w == word})
    return grammar.final in states


@st.composite
def grammars(draw: st.DrawFn) -> tuple[World, dict[str, list[Node]], Grammar]:
    world = draw(worlds())
    intents = {f"i{n}": draw(st.lists(template_trees, min_size=1, max_size=2)) for n in range(draw(st.integers(1, 3)))}
    return world, intents, compile_world(world, intents)


@given(st.lists(st.sampled_from(SYMBOLS), max_size=40).map("".join) | st.text(max_size=40))
def test_any_text_parses_or_gives_a_template_error_at_a_column_of_it(text: str) -> None:
    try:
        parse_template(text)
    except TemplateError as error:
        assert 0 <= error.column <= len(text)


@given(grammars(), st.randoms(use_true_random=False))
def test_every_sentence_of_a_template_parses_back_to_its_intent_and_slots(case, rng) -> None:
    world, intents, grammar = case
    for intent, nodes in intents.items():
        for node in nodes:
            slots: dict[str, Any] = {}
            lead = walk(world.lead_in, world, rng, {}) if world.lead_in and rng.random() < 0.5 else []
            sentence = lead + walk(node, world, rng, slots)
            readings = {(p.intent, p.slots) for p in grammar.parse(sentence)}
            # A sentence with more readings of one intent than the parser follows (`READINGS_PER_STATE`)
            # is ambiguous, and is never acted on: its own reading may be one of those not followed.
            ambiguous = sum(meant == intent for meant, _ in readings) >= READINGS_PER_STATE
            assert (intent, tuple(sorted(slots.items()))) in readings or ambiguous, sentence
            assert fsg_accepts(grammar, sentence)
            assert all(grammar.is_prefix(sentence[:n]) for n in range(len(sentence) + 1))
        sampled = grammar.sample(intent, rng).split()
        assert intent in {p.intent for p in grammar.parse(sampled)}, sampled


@given(grammars())
def test_expansions_of_a_template_without_slots_are_all_sentences_of_it(case) -> None:
    world, intents, grammar = case
    rules = {name: Rule(parse_template(tree.render())) for name, tree in world.rules.items()}
    for intent, nodes in intents.items():
        for node in nodes:
            if "{" in node.render():
                continue
            for form in expansions(parse_template(node.render()), rules):
                assert intent in {p.intent for p in grammar.parse(list(form))}, form


@given(grammars(), st.lists(st.lists(st.sampled_from((*VOCABULARY, "please", "hey", "zzz")), max_size=6), max_size=20))
def test_the_recogniser_fsg_accepts_exactly_what_the_parser_parses(case, word_lists) -> None:
    _, _, grammar = case
    assert {t[3] for t in grammar.fsg_transitions() if len(t) == 4} <= grammar.words
    assert grammar.words <= {*VOCABULARY, "please", "hey"}
    for words in word_lists:
        readings = grammar.parse(words)
        assert bool(readings) == fsg_accepts(grammar, words), words
        if readings:
            assert grammar.is_prefix(words)
        if not grammar.is_prefix(words):
            assert not readings and not grammar.parse([*words, "a"])
