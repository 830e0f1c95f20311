import pytest

from carvoice.errors import UnknownValue
from carvoice.profile.conditions import ConditionError, evaluate, names, parse_condition


def test_precedence_and_or_not():
    condition = parse_condition("window is driver and driver_side is left or window in [all, rear_left]")
    assert names(condition) == {"window", "driver_side"}
    assert evaluate(condition, {"window": "driver", "driver_side": "left"})
    assert not evaluate(condition, {"window": "driver", "driver_side": "right"})
    assert evaluate(condition, {"window": "ALL", "driver_side": "right"})
    assert evaluate(parse_condition("not (state is off)"), {"state": "on"})
    assert evaluate(parse_condition("gear not in [D, R]"), {"gear": "P"})


def test_numbers_compare_and_text_never_orders():
    assert evaluate(parse_condition("speed < 3 and gear is P"), {"speed": 2.5, "gear": "P"})
    assert not evaluate(parse_condition("speed >= 80"), {"speed": 79.9})
    assert not evaluate(parse_condition("gear < 3"), {"gear": "P"})


def test_unknown_values_are_not_silently_false():
    with pytest.raises(UnknownValue):
        evaluate(parse_condition("speed < 3"), {})


@pytest.mark.parametrize(
    ("text", "column"),
    [("speed <", 7), ("is x", 0), ("a is b and", 10), ("a ~ b", 2), ("(a is b", 7), ("a in [b, c", 10)],
)
def test_errors_point_at_the_problem(text, column):
    with pytest.raises(ConditionError) as caught:
        parse_condition(text)
    assert caught.value.column == column
