import random

import pytest

from carvoice.intent import GrammarError, Rule, Sentence, SlotType, SlotValue, compile_grammar, parse_template
from carvoice.intent.grammar import slot_sets
from carvoice.intent.numbers import number_to_words


def slot(name, **values):
    return SlotType(name, tuple(SlotValue(v, parse_template(s)) for v, s in values.items()))


@pytest.fixture
def grammar():
    slots = {
        "window": slot("window", driver="driver | driver's", rear_left="rear left"),
        "on_off": slot("on_off", on="on", off="off"),
        "degrees": SlotType("degrees", tuple(SlotValue(n, parse_template(number_to_words(n))) for n in range(16, 31))),
    }
    rules = {"please": Rule(parse_template("[please]"))}
    intents = {
        "window": [Sentence(parse_template("<please> open the {window} window"))],
        "lights": [
            Sentence(parse_template("turn {state:on_off} the lights")),
            Sentence(parse_template("turn the lights {state:on_off}")),
        ],
        "temperature": [Sentence(parse_template("set temperature to {degrees} [degrees]"))],
    }
    return compile_grammar(intents, slots, rules, lead_in=parse_template("[hey] copilot"))


def test_parse_gives_intent_and_slot_values(grammar):
    [reading] = grammar.parse("please open the driver's window".split())
    assert reading.intent == "window" and reading.slot_dict == {"window": "driver"}
    [reading] = grammar.parse("set temperature to twenty two degrees".split())
    assert reading.slot_dict == {"degrees": 22}
    [reading] = grammar.parse("turn the lights off".split())
    assert (reading.intent, reading.slot_dict) == ("lights", {"state": "off"})


def test_incomplete_or_foreign_sentences_do_not_parse(grammar):
    assert grammar.parse("open the driver".split()) == []
    assert grammar.parse("set temperature to thirty one".split()) == []
    assert grammar.parse("open the garage".split()) == []
    assert grammar.is_prefix("open the".split()) and not grammar.is_prefix("open garage".split())


def test_a_sentence_that_more_words_would_change_may_grow_into_another(grammar):
    assert grammar.may_grow_into_another("set temperature to twenty".split())  # ... twenty six
    assert not grammar.may_grow_into_another("set temperature to twenty six".split())  # only "degrees" follows
    assert not grammar.may_grow_into_another("set temperature to thirty".split())  # 31 is out of range
    assert not grammar.may_grow_into_another("open the driver window".split())
    assert not grammar.may_grow_into_another("turn the lights off".split())


def test_the_words_that_may_follow_are_those_of_every_path_so_far(grammar):
    assert grammar.next_words("turn".split()) == {"on", "off", "the"}
    assert grammar.next_words("open the".split()) == {"driver", "driver's", "rear"}
    assert grammar.next_words("set temperature to twenty six".split()) == {"degrees"}
    assert grammar.next_words("turn the lights off".split()) == frozenset()
    assert grammar.next_words("open garage".split()) == frozenset()


def test_a_sentence_that_an_optional_slot_may_follow_may_grow_into_another():
    """The slot comes after a plain word: "open the window" may become "open the window to fifty percent"."""
    percent = SlotType("percent", tuple(SlotValue(n, parse_template(number_to_words(n))) for n in (25, 50, 75)))
    intents = {"window": [Sentence(parse_template("open the window [to {amount:percent} percent] [please]"))]}
    grammar = compile_grammar(intents, {"percent": percent}, {})
    assert grammar.may_grow_into_another("open the window".split())
    assert not grammar.may_grow_into_another("open the window to fifty percent".split())
    assert not grammar.may_grow_into_another("open the window please".split())


def test_lead_in_is_part_of_the_same_graph(grammar):
    [reading] = grammar.parse("copilot turn on the lights".split())
    assert reading.slot_dict == {"state": "on"}


def test_fsg_has_every_word_and_no_chained_null_arcs(grammar):
    transitions = grammar.fsg_transitions()
    words = {t[3] for t in transitions if len(t) == 4}
    assert words == grammar.words
    nulls = {(t[0], t[1]) for t in transitions if len(t) == 3}
    # closed under composition: a -> b -> c by null arcs implies a -> c directly
    for a, b in nulls:
        for c in (c for b2, c in nulls if b2 == b):
            assert (a, c) in nulls or a == c


def test_samples_are_sentences_of_their_intent(grammar):
    rng = random.Random(3)
    for intent in ("window", "lights", "temperature"):
        for _ in range(20):
            sentence = grammar.sample(intent, rng)
            assert [r.intent for r in grammar.parse(sentence.split())] == [intent]


def test_every_undefined_name_and_cycle_is_reported():
    rules = {"a": Rule(parse_template("x <b>"), "rule a"), "b": Rule(parse_template("<a>"), "rule b")}
    intents = {"i": [Sentence(parse_template("go {nowhere} <a> <missing>"), "sentence 1")]}
    with pytest.raises(GrammarError) as caught:
        compile_grammar(intents, {}, rules)
    messages = [p.message for p in caught.value.problems]
    assert any("slot type 'nowhere' is not defined" in m for m in messages)
    assert any("rule <missing> is not defined" in m for m in messages)
    assert any("refers to itself: a -> b -> a" in m for m in messages)
    origins = {p.message.split(" ")[1]: p.origin for p in caught.value.problems}
    assert origins == {"type": "sentence 1", "<missing>": "sentence 1", "<a>": "rule b"}


def test_slot_sets_follow_optional_parts():
    sets = slot_sets(parse_template("turn [{state}] the {light} [{where}]"), {})
    assert sets == {
        frozenset({"light"}),
        frozenset({"state", "light"}),
        frozenset({"light", "where"}),
        frozenset({"state", "light", "where"}),
    }


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "zero"),
        (16, "sixteen"),
        (22, "twenty two"),
        (40, "forty"),
        (105, "one hundred five"),
        (2024, "two thousand twenty four"),
    ],
)
def test_number_words(number, words):
    assert number_to_words(number) == words


def test_an_intent_is_among_the_readings_however_many_another_intent_has():
    """"a" reads 32 ways as "many" (2 x 4 x 4 slot values that may all say "a") and once as
    "plain": the readings followed into a state are counted per intent, so "plain" is not crowded
    out and the sentence is seen to be ambiguous between the two."""
    one_a = slot("one_a", x="a", y="a")
    maybe_a = slot("maybe_a", x="[a]", y="[a]", z="[a]")
    intents = {
        "plain": [Sentence(parse_template("a"))],
        "many": [Sentence(parse_template("{first:one_a} {second:maybe_a} {third:maybe_a}"))],
    }
    grammar = compile_grammar(intents, {"one_a": one_a, "maybe_a": maybe_a}, {})
    readings = grammar.parse(["a"])
    assert {r.intent for r in readings} == {"plain", "many"}
