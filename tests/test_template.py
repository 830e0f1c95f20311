import pytest

from carvoice.intent import Sentence, compile_grammar
from carvoice.intent.template import Choice, RuleRef, Sequence, SlotRef, TemplateError, Word, parse_template


def test_words_alternatives_optionals_slots_and_rules():
    expr = parse_template("<please> (open | roll down) [the] {window} window")
    assert expr == Sequence(
        (
            RuleRef("please", 0),
            Choice((Word("open"), Sequence((Word("roll"), Word("down"))))),
            Choice((Word("the"),), optional=True),
            SlotRef("window", 34),
            Word("window"),
        )
    )


def test_typed_slot_and_case_and_apostrophes():
    expr = parse_template("Turn {state:on_off} the driver's light")
    assert expr.items[1] == SlotRef("state", 5, "on_off")
    assert expr.items[1].type_name == "on_off"
    assert Word("driver's") in expr.items and Word("turn") in expr.items


@pytest.mark.parametrize(
    ("template", "column", "fragment"),
    [
        ("open (the window", 16, "missing ')'"),
        ("open the window)", 15, "unmatched ')'"),
        ("set fan to 3", 11, "write numbers as words"),
        ("open {window the", 5, "never closed"),
        ("open ( | the) window", 12, "empty alternative"),
        ("open [] window", 5, "empty group"),
        ("open {Window} x", 5, "lowercase"),
        ("hello wor-ld", 6, "not a word"),
    ],
)
def test_errors_name_the_column(template, column, fragment):
    with pytest.raises(TemplateError) as caught:
        parse_template(template)
    assert fragment in str(caught.value)
    assert caught.value.column == column


def test_an_optional_group_alone_inside_parentheses_stays_optional():
    """Found by the property tests: "([the])" lost its optional flag and required "the"."""
    for text in ("turn on ([the]) lights", "turn on [([the])] lights", "turn on ([the] | [a]) lights"):
        grammar = compile_grammar({"lights": [Sentence(parse_template(text))]}, {}, {})
        assert grammar.parse("turn on lights".split()), text
        assert grammar.parse("turn on the lights".split()), text
