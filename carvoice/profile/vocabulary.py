"""The words of a profile: sentence templates, rules, slot types (values and number ranges)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from carvoice.intent import (
    GrammarError,
    Rule,
    Sentence,
    SlotType,
    SlotValue,
    TemplateError,
    compile_grammar,
    parse_template,
    spoken_forms,
)
from carvoice.intent.template import Choice, Expr, Sequence, SlotRef, Word
from carvoice.profile.schema import KEYS
from carvoice.profile.settings import Settings
from carvoice.profile.suggest import known_names

# A number slot is a list of words for the recogniser, each value a spoken form in the grammar.
MAX_RANGE_VALUES = 1000
_MAX_DECIMAL_PLACES = 3
@dataclass(frozen=True)
class Origin:
    """Where a template came from, so grammar errors point back into the right file."""

    file: Path
    key: str
    text: str


class Vocabulary(Settings):
    """Templates, rules, slots and sentences, and the grammar compiled from them."""

    def _grammar(
        self,
        sentences: dict[str, list[Sentence]],
        slot_types: dict[str, SlotType],
        rules: dict[str, Rule],
        lead_in: Expr | None,
    ) -> Any:
        """The compiled grammar, or None once its problems are reported.

        Slots and rules that are defined but broken stand in empty, so a sentence that uses
        one does not add "not defined" to the problem already reported where it is defined.
        """
        slot_types = {**{n: SlotType(n, ()) for n in self._broken_names("slots")}, **slot_types}
        rules = {**{n: Rule(Sequence(())) for n in self._broken_names("rules")}, **rules}
        try:
            return compile_grammar(sentences, slot_types, rules, lead_in)
        except GrammarError as error:
            for p in error.problems:
                origin: Origin = p.origin
                message = p.message
                if p.undefined:
                    known = slot_types if p.undefined_kind == "slot" else rules
                    message += " " + known_names(p.undefined, known, "defined")
                self.problem(origin.file, origin.key, message, origin.text)
            return None

    def _template(self, key: str, text: Any, *, allow_slots: bool = True) -> Expr | None:
        if not isinstance(text, str):
            self.report(key, f"a sentence template must be text, not {text!r}")
            return None
        try:
            expr = parse_template(text)
        except TemplateError as error:
            self.report(key, f"{error} (column {error.column + 1} of {text!r})", text)
            return None
        if not allow_slots and _has_slot(expr):
            self.report(key, "slot values cannot contain other slots", text)
            return None
        if isinstance(expr, Sequence) and not expr.items:
            self.report(key, "empty template", text)
            return None
        return expr

    def _rules(self, table: dict[str, Any]) -> dict[str, Rule]:
        rules = {}
        for name, text in table.items():
            key = f"rules.{name}"
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                self.report(key, "rule names are lowercase letters, digits and _")
                continue
            expr = self._template(key, text)
            if expr is not None:
                rules[name] = Rule(expr, Origin(self._file_of(key) or self.root, key, str(text)))
        self.broken |= {f"rules.{name}" for name in table if name not in rules}
        return rules

    def _slots(self, table: dict[str, Any], rules: dict[str, Rule]) -> dict[str, SlotType]:
        slot_types = {}
        for name, definition in table.items():
            key = f"slots.{name}"
            if not isinstance(definition, dict):
                self.report(key, "must be a table with values = [...] and/or range = [low, high]")
                continue
            self._unknown_keys(key, definition, KEYS["slot"])
            reported = len(self.problems)
            values = self._slot_values(key, definition.get("values")) + self._slot_range(key, definition)
            if not values:
                misspelt = any(self._misspelt(definition, KEYS["slot"], name) for name in ("values", "range"))
                if len(self.problems) == reported and not misspelt:
                    self.report(key, "a slot needs values = [...] or range = [low, high]")
                continue
            seen = [v.value for v in values]
            duplicates = sorted({str(v) for v in seen if seen.count(v) > 1})
            if duplicates:
                self.report(key, f"value(s) given twice: {', '.join(duplicates)}")
            slot_types[name] = SlotType(name, tuple(values))
        self.broken |= {f"slots.{name}" for name in table if name not in slot_types}
        return slot_types

    def _slot_values(self, key: str, values: Any) -> list[SlotValue]:
        if values is None:
            return []
        if isinstance(values, list):
            if not all(isinstance(v, str) for v in values):
                self.report(f"{key}.values", "a list of values must hold only text")
                return []
            values = {v: v for v in values}
        if not isinstance(values, dict):
            self.report(f"{key}.values", "must be a list of words, or a table of value = [spoken forms]")
            return []
        result = []
        for value, spoken in values.items():
            vkey = f"{key}.values.{value}"
            forms = [spoken] if isinstance(spoken, str) else spoken
            if not isinstance(forms, list) or not forms or not all(isinstance(f, str) for f in forms):
                self.report(vkey, "spoken forms must be text or a list of text")
                continue
            parsed = [self._template(vkey, form, allow_slots=False) for form in forms]
            exprs = [e for e in parsed if e is not None]
            if len(exprs) < len(parsed):
                continue
            spoken_expr = exprs[0] if len(exprs) == 1 else Choice(tuple(exprs))
            result.append(SlotValue(value, spoken_expr))
        return result

    def _slot_range(self, key: str, definition: dict[str, Any]) -> list[SlotValue]:
        """Numbers from low to high by step; a fractional step gives decimals ("twenty one point five")."""
        bounds, step = definition.get("range"), definition.get("step", 1)
        if bounds is None:
            if "step" in definition:
                self.report(f"{key}.step", "a step needs range = [low, high]")
            return []
        low, high = [_decimal(b) for b in bounds] if isinstance(bounds, list) and len(bounds) == 2 else [None, None]
        if low is None or high is None:
            self.report(f"{key}.range", f"must be [low, high], two numbers such as [16, 30], not {bounds!r}")
            return []
        decimal_step = _decimal(step)
        if decimal_step is None or decimal_step <= 0:
            self.report(f"{key}.step", f"must be a number greater than 0, such as 1 or 0.5, not {step!r}")
            return []
        if not 0 <= low <= high < 1_000_000:
            self.report(f"{key}.range", f"needs 0 <= low <= high < 1000000, not {bounds!r}")
            return []
        count = int((high - low) / decimal_step) + 1
        places = max(-int(n.as_tuple().exponent) for n in (low, decimal_step))
        where = f"{key}.step" if "step" in definition else f"{key}.range"
        if count > MAX_RANGE_VALUES:
            self.report(where, f"gives {count:,} values, more than {MAX_RANGE_VALUES:,}: use a larger step")
            return []
        if places > _MAX_DECIMAL_PLACES:
            self.report(where, f"has {places} decimal places, more than {_MAX_DECIMAL_PLACES}")
            return []
        values = []
        for index in range(count):
            number = low + index * decimal_step
            value = int(number) if number == int(number) else float(number)
            forms = [_words_expr(form) for form in spoken_forms(number)]
            values.append(SlotValue(value, forms[0] if len(forms) == 1 else Choice(tuple(forms))))
        return values

    def _sentences(self, intents: dict[str, Any]) -> dict[str, list[Sentence]]:
        result: dict[str, list[Sentence]] = {}
        for name, data in intents.items():
            key = f"intents.{name}"
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                self.report(key, "intent names are lowercase letters, digits and _")
                continue
            if not isinstance(data, dict):
                self.report(key, "must be a table with sentences = [...]")
                continue
            texts = data.get("sentences")
            if not isinstance(texts, list) or not texts:
                if "sentences" in data or not self._misspelt(data, KEYS["intent"], "sentences"):
                    self.report(f"{key}.sentences", 'an intent needs sentences = ["...", ...]')
                continue
            file = self._file_of(key) or self.root
            sentences = []
            for index, text in enumerate(texts):
                expr = self._template(f"{key}.sentences[{index}]", text)
                if expr is not None:
                    sentences.append(Sentence(expr, Origin(file, f"{key}.sentences[{index}]", str(text))))
            result[name] = sentences
        return result


def _decimal(number: Any) -> Decimal | None:
    """A TOML number as written (0.1 stays 0.1, not 0.1000000000000000055), or None if it is not one."""
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        return None
    return Decimal(str(number))


def _words_expr(text: str) -> Expr:
    words = tuple(Word(w) for w in text.split())
    return words[0] if len(words) == 1 else Sequence(words)


def _has_slot(expr: Expr) -> bool:
    if isinstance(expr, SlotRef):
        return True
    return any(_has_slot(e) for e in getattr(expr, "items", getattr(expr, "options", ())))
