"""A small condition language an installer can read aloud.

    window is driver and driver_side is left
    window in [driver, all]
    speed < 3 and gear is P
    not (state is off)
    window_fl is unknown or window_fl > 0

Names are looked up at evaluation time (slots, vehicle settings, vehicle state).
A name with no value raises `UnknownValue`, so every caller decides explicitly what
"unknown" means; for safety rules it means no.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from carvoice.errors import TextError, UnknownValue
from carvoice.intent.template import TokenCursor

Value = str | int | float


class ConditionError(TextError):
    """A condition that cannot be parsed; `column` points at the fault."""


@dataclass(frozen=True)
class Comparison:
    name: str
    op: str
    values: tuple[Value, ...]

    def evaluate(self, lookup: Callable[[str], Value | None]) -> bool:
        actual = lookup(self.name)
        if self.op in ("known", "unknown"):
            return (actual is None) == (self.op == "unknown")
        if actual is None:
            raise UnknownValue(self.name)
        if self.op in ("is", "==", "in"):
            return any(_equal(actual, v) for v in self.values)
        if self.op in ("is not", "!=", "not in"):
            return not any(_equal(actual, v) for v in self.values)
        if not isinstance(actual, int | float) or not isinstance(self.values[0], int | float):
            return False
        return _ORDER[self.op](actual, self.values[0])


@dataclass(frozen=True)
class Not:
    operand: Condition

    def evaluate(self, lookup: Callable[[str], Value | None]) -> bool:
        return not self.operand.evaluate(lookup)


@dataclass(frozen=True)
class All:
    operands: tuple[Condition, ...]

    def evaluate(self, lookup: Callable[[str], Value | None]) -> bool:
        return all(o.evaluate(lookup) for o in self.operands)


@dataclass(frozen=True)
class Any_:
    operands: tuple[Condition, ...]

    def evaluate(self, lookup: Callable[[str], Value | None]) -> bool:
        return any(o.evaluate(lookup) for o in self.operands)


Condition = Comparison | Not | All | Any_

# Far more than a rule needs; thousands of levels would exhaust Python's recursion while parsing.
MAX_NESTING = 16
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_TOKEN = re.compile(
    r"\s*(?:(?P<op><=|>=|==|!=|<|>)|(?P<punct>[()\[\],])|(?P<str>\"[^\"]*\"|'[^']*')"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)


def names(condition: Condition) -> set[str]:
    """Every name the condition reads, for checking them when the profile loads."""
    if isinstance(condition, Comparison):
        return {condition.name}
    if isinstance(condition, Not):
        return names(condition.operand)
    return set().union(*(names(o) for o in condition.operands))


def parse_condition(text: str) -> Condition:
    tokens = _tokenize(text)
    parser = _Parser(tokens, len(text))
    condition = parser.expression()
    if parser.index < len(tokens):
        raise ConditionError(f"unexpected {tokens[parser.index][1]!r}", tokens[parser.index][2])
    return condition


def evaluate(condition: Condition, values: Mapping[str, Value | None]) -> bool:
    return condition.evaluate(values.get)


def _equal(actual: Value, expected: Value) -> bool:
    if isinstance(actual, str) or isinstance(expected, str):
        return str(actual).lower() == str(expected).lower()
    return actual == expected


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            column = len(text) - len(text[position:].lstrip())
            raise ConditionError(f"unexpected {text[column]!r}", column)
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


class _Parser(TokenCursor):
    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token[0] == "word" and token[1].lower() == word:
            self.index += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        token = self._peek()
        if token is None or token[1] != text:
            column = token[2] if token else self.length
            raise ConditionError(f"expected {text!r}", column)
        self.index += 1

    def expression(self) -> Condition:
        operands = [self.conjunction()]
        while self._keyword("or"):
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Any_(tuple(operands))

    def conjunction(self) -> Condition:
        operands = [self.unary()]
        while self._keyword("and"):
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else All(tuple(operands))

    def unary(self) -> Condition:
        token = self._peek()
        if token is not None and (token[1] == "(" or token[1].lower() == "not"):
            # Each `not` and `(` is a level of recursion here and when the condition is evaluated.
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise ConditionError(f"nested more than {MAX_NESTING} deep (not and parentheses)", token[2])
            try:
                if self._keyword("not"):
                    return Not(self.unary())
                self.index += 1
                inner = self.expression()
                self._expect(")")
                return inner
            finally:
                self.depth -= 1
        return self.comparison()

    def comparison(self) -> Condition:
        token = self._peek()
        if token is None or token[0] != "word" or token[1].lower() in ("and", "or", "not", "is", "in"):
            column = token[2] if token else self.length
            raise ConditionError("expected a name, such as a slot or a vehicle setting", column)
        self.index += 1
        name = token[1]
        op_token = self._peek()
        if self._keyword("is"):
            negated = self._keyword("not")
            for word in ("known", "unknown"):
                if self._keyword(word):
                    return Comparison(name, {"known": "unknown", "unknown": "known"}[word] if negated else word, ())
            op = "is not" if negated else "is"
        elif self._keyword("not"):
            if not self._keyword("in"):
                raise ConditionError("expected 'in' after 'not'", op_token[2] if op_token else self.length)
            return Comparison(name, "not in", self._list())
        elif self._keyword("in"):
            return Comparison(name, "in", self._list())
        elif op_token is not None and op_token[0] == "op":
            self.index += 1
            op = op_token[1]
        else:
            column = op_token[2] if op_token else self.length
            raise ConditionError(f"expected is, is not, in, ==, !=, <, <=, > or >= after {name!r}", column)
        return Comparison(name, op, (self._value(),))

    def _list(self) -> tuple[Value, ...]:
        self._expect("[")
        values = [self._value()]
        while (token := self._peek()) is not None and token[1] == ",":
            self.index += 1
            values.append(self._value())
        self._expect("]")
        return tuple(values)

    def _value(self) -> Value:
        token = self._peek()
        if token is None or token[0] not in ("num", "word", "str"):
            column = token[2] if token else self.length
            raise ConditionError("expected a value", column)
        self.index += 1
        kind, text, _ = token
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "str":
            return text[1:-1]
        return text
