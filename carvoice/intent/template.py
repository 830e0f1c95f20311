"""The sentence template language, parsed into a small expression tree.

    open the (driver | passenger) window     a required choice
    turn on [the] headlights                 optional words
    set the fan to {level}                   a slot (values defined in the profile)
    turn {state:on_off} the fan              slot `state`, values from slot type `on_off`
    <please> open the trunk                  a reusable rule (defined in the profile)

The tree is the one compiled form that both the recogniser's grammar and the
intent parser are built from, so the two cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from carvoice.errors import TextError


class TemplateError(TextError):
    """A template that cannot be parsed; `column` points at the offending character."""


@dataclass(frozen=True)
class Word:
    text: str


@dataclass(frozen=True)
class Sequence:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Choice:
    options: tuple[Expr, ...]
    optional: bool = False


@dataclass(frozen=True)
class SlotRef:
    """{name} fills slot `name` from the values of slot type `name`; {name:type} from `type`."""

    name: str
    column: int = 0
    type: str = ""

    @property
    def type_name(self) -> str:
        return self.type or self.name


@dataclass(frozen=True)
class RuleRef:
    name: str
    column: int = 0


Expr = Word | Sequence | Choice | SlotRef | RuleRef

# Groups ( ) and [ ] inside one another: far more than a sentence needs, and every function that
# walks a template recurses once per level.
MAX_NESTING = 16
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_WORD = re.compile(r"[a-z][a-z']*|'[a-z]+")
_TOKEN = re.compile(r"\s*(?:([()\[\]|])|\{([^}]*)\}|<([^>]*)>|([^\s()\[\]|{}<>]+))")


def parse_template(text: str) -> Expr:
    """Parse one template; raises TemplateError naming the column at fault."""
    tokens = _tokenize(text)
    parser = _Parser(tokens, len(text))
    return parser.alternatives(closing=None)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            break
        start = position + len(match.group(0)) - len(match.group(0).lstrip())
        punct, slot, rule, word = match.groups()
        if punct:
            tokens.append(("punct", punct, start))
        elif slot is not None:
            name = slot.replace(" ", "")
            if not all(_NAME.fullmatch(part) for part in name.split(":", 1)):
                raise TemplateError(
                    f"{{{slot}}}: write {{slot}} or {{slot:type}}, names in lowercase letters, digits and _", start
                )
            tokens.append(("slot", name, start))
        elif rule is not None:
            name = rule.strip()
            if not _NAME.fullmatch(name):
                raise TemplateError(f"rule name <{rule}> must be lowercase letters, digits and _", start)
            tokens.append(("rule", name, start))
        else:
            tokens.append(("word", word, start))
        position = match.end()
    rest = text[position:].strip()
    if rest:
        column = text.index(rest, position)
        raise TemplateError(f"unexpected {rest[0]!r} (a {{ or < that is never closed?)", column)
    return tokens


class TokenCursor:
    """A recursive-descent parser's place in its tokens (kind, text, column) of a `length`-character
    text; `depth` counts the nesting the parser is in, so that it can bound it."""

    def __init__(self, tokens: list[tuple[str, str, int]], length: int) -> None:
        self.tokens = tokens
        self.index = 0
        self.length = length
        self.depth = 0

    def _peek(self, offset: int = 0) -> tuple[str, str, int] | None:
        i = self.index + offset
        return self.tokens[i] if i < len(self.tokens) else None


class _Parser(TokenCursor):

    def alternatives(self, closing: str | None) -> Expr:
        options = [self.sequence()]
        while (token := self._peek()) is not None and token[1] == "|" and token[0] == "punct":
            self.index += 1
            options.append(self.sequence())
        token = self._peek()
        if closing is None:
            if token is not None:
                raise TemplateError(f"unmatched {token[1]!r}", token[2])
        elif token is None or token[1] != closing:
            raise TemplateError(f"missing {closing!r}", self.length)
        if len(options) > 1 and any(_is_empty(option) for option in options):
            column = token[2] if token is not None else self.length
            raise TemplateError("empty alternative: write [a | b] for optional words, not (a | )", column)
        if len(options) == 1:
            return options[0]
        return Choice(tuple(options))

    def sequence(self) -> Expr:
        items: list[Expr] = []
        while (token := self._peek()) is not None:
            kind, value, column = token
            if kind == "punct":
                if value in "|)]":
                    break
                self.index += 1
                closing = ")" if value == "(" else "]"
                self.depth += 1
                if self.depth > MAX_NESTING:
                    raise TemplateError(f"groups nested more than {MAX_NESTING} deep", column)
                inner = self.alternatives(closing)
                self.depth -= 1
                self.index += 1
                # A group of alternatives becomes one choice; a lone [optional] inside ( ) stays optional.
                options = inner.options if isinstance(inner, Choice) and not inner.optional else (inner,)
                if _is_empty(inner):
                    raise TemplateError(f"empty group {value}{closing}", column)
                items.append(Choice(options, optional=value == "["))
            elif kind == "slot":
                self.index += 1
                name, _, type_name = value.partition(":")
                items.append(SlotRef(name, column, type_name))
            elif kind == "rule":
                self.index += 1
                items.append(RuleRef(value, column))
            else:
                self.index += 1
                items.extend(Word(w) for w in _words(value, column))
        if len(items) == 1:
            return items[0]
        return Sequence(tuple(items))


def _words(token: str, column: int) -> list[str]:
    word = token.lower()
    if any(ch.isdigit() for ch in word):
        raise TemplateError(f"{token!r}: write numbers as words, or use a slot with a number range", column)
    if not _WORD.fullmatch(word):
        raise TemplateError(f"{token!r} is not a word (letters and apostrophes only)", column)
    return [word]


def _is_empty(expr: Expr) -> bool:
    return isinstance(expr, Sequence) and not expr.items


def template_words(expr: Expr) -> list[str]:
    """The literal words written in one template, without expanding slots or rules."""
    if isinstance(expr, Word):
        return [expr.text]
    if isinstance(expr, Sequence):
        return [w for item in expr.items for w in template_words(item)]
    if isinstance(expr, Choice):
        return [w for option in expr.options for w in template_words(option)]
    return []
