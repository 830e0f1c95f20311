"""Each intent of a profile: its defaults, conditions, replies and actions."""

from __future__ import annotations

from typing import Any

from carvoice.intent import (
    Rule,
    Sentence,
    SlotType,
)
from carvoice.intent.grammar import slot_refs, slot_sets
from carvoice.profile import placeholders
from carvoice.profile.conditions import Condition, ConditionError, names, parse_condition
from carvoice.profile.model import (
    Action,
    CanAction,
    Intent,
    RawFrameAction,
    Reply,
    SerialAction,
    SerialPortSettings,
    diagnostic_id,
    parse_frame_text,
)
from carvoice.profile.schema import KEYS
from carvoice.profile.security import DIAGNOSTIC
from carvoice.profile.suggest import known_names
from carvoice.profile.vocabulary import Vocabulary

REPLY_EXAMPLES = "examples"


class Intents(Vocabulary):
    """Reads [intents.NAME] once its sentences are known."""

    def _intent(
        self,
        name: str,
        data: dict[str, Any],
        sentences: list[Sentence],
        rules: dict[str, Rule],
        slot_types: dict[str, SlotType],
        names: set[str],
        serial: dict[str, SerialPortSettings],
    ) -> Intent:
        key = f"intents.{name}"
        self._unknown_keys(key, data, KEYS["intent"])
        sets: set[frozenset[str]] = set()
        slot_values: dict[str, list[Any]] = {}
        for sentence in sentences:
            sets |= slot_sets(sentence.template, rules)
            for ref in slot_refs(sentence.template, rules):
                values = slot_values.setdefault(ref.name, [])
                slot_type = slot_types.get(ref.type_name)
                values += [v.value for v in slot_type.values if v.value not in values] if slot_type else []
        defaults = self._defaults(key, data.get("defaults", {}), slot_values)
        slot_names = set(slot_values) | set(defaults)
        known = slot_names | names
        replies = self._intent_replies(key, data, known)
        actions = tuple(
            action
            for index, spec in enumerate(self._list_of_tables(f"{key}.actions", data.get("actions", [])))
            if (action := self._action(f"{key}.actions[{index}]", spec, known, serial)) is not None
        )
        examples = data.get("examples", [])
        if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
            self.report(f"{key}.examples", "must be a list of sentences")
            examples = []
        return Intent(
            name=name,
            sentences=tuple(s.origin.text for s in sentences),
            actions=actions,
            replies=replies,
            defaults=defaults,
            examples=tuple(examples),
            allow_when=self._condition(f"{key}.allow_when", data.get("allow_when"), known),
            allow_when_text=str(data.get("allow_when", "")),
            refusal=self._text(data, key, "refusal"),
            confirm_when=self._condition(f"{key}.confirm_when", data.get("confirm_when"), known),
            question=self._text(data, key, "question"),
            confirm_below=self._confirm_below(key, data, actions),
            slot_values={name: tuple(values) for name, values in slot_values.items()},
            slot_sets=tuple(sorted(sets, key=sorted)),
        )

    def _defaults(self, key: str, table: Any, slot_values: dict[str, list[Any]]) -> dict[str, Any]:
        """Slot values a sentence implies without saying them ("roll up the windows": all)."""
        if not isinstance(table, dict):
            self.report(f"{key}.defaults", "must be a table of slot = value")
            return {}
        result = {}
        for slot, value in table.items():
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                self.report(f"{key}.defaults.{slot}", "a default is a slot value (text or a number)")
                continue
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # as a range slot holds it
            if slot in slot_values and value not in slot_values[slot]:
                self.report(f"{key}.defaults.{slot}", f"{value!r} is not a value of slot {{{slot}}}")
                continue
            result[slot] = value
            slot_values.setdefault(slot, [])
            if value not in slot_values[slot]:
                slot_values[slot].append(value)
        return result

    def _confirm_below(self, key: str, data: dict[str, Any], actions: tuple[Action, ...]) -> float | None:
        below = self._confirm_bar(data, key, None)
        if below is not None and not actions:
            self.report(f"{key}.confirm_below", "only a command that acts is asked about, and this one has no actions")
        return below

    def _condition(self, key: str, text: Any, known: set[str]) -> Condition | None:
        if text is None:
            return None
        if not isinstance(text, str):
            self.report(key, f'a condition is text such as "window is driver", not {text!r}')
            return None
        try:
            condition = parse_condition(text)
        except ConditionError as error:
            self.report(key, f"{error} (column {error.column + 1} of {text!r})", text)
            return None
        unknown = sorted(names(condition) - known)
        if unknown:
            self.report(key, f"unknown name {unknown[0]} {known_names(unknown[0], known)}", text)
            return None
        return condition

    def _check_placeholders(self, key: str, text: str, known: set[str]) -> bool:
        """Placeholders must be well formed, and name something known (when `known` is given)."""
        try:
            placeholders.check(text)
        except placeholders.PlaceholderError as error:
            self.report(key, str(error), text)
            return False
        unknown = [n for n in placeholders.names_in(text) if known and n not in known]
        if unknown:
            choices = known_names(unknown[0], known - {REPLY_EXAMPLES})
            self.report(key, f"{{{unknown[0]}}} is not a slot, setting or state value here {choices}", text)
            return False
        return True

    def _intent_replies(self, key: str, data: dict[str, Any], known: set[str]) -> tuple[Reply, ...]:
        if "reply" in data and "replies" in data:
            self.report(key, 'give either reply = "..." or [[...replies]] tables, not both')
        specs: list[dict[str, Any]]
        if "reply" in data:
            specs = [{"text": data["reply"]}]
        else:
            specs = self._list_of_tables(f"{key}.replies", data.get("replies", []))
        replies = []
        for index, spec in enumerate(specs):
            rkey = f"{key}.replies[{index}]" if "replies" in data else f"{key}.reply"
            self._unknown_keys(rkey, spec, KEYS["reply"])
            text = spec.get("text")
            if not isinstance(text, str):
                if "text" in spec or not self._misspelt(spec, KEYS["reply"], "text"):
                    self.report(rkey, 'a reply needs text = "..."')
                continue
            text_key = f"{rkey}.text" if "replies" in data else rkey
            if self._check_placeholders(text_key, text, known | {REPLY_EXAMPLES}):
                replies.append(Reply(text, self._condition(f"{rkey}.when", spec.get("when"), known)))
        return tuple(replies)

    def _action(
        self, key: str, spec: dict[str, Any], known: set[str], serial: dict[str, SerialPortSettings]
    ) -> Action | None:
        when = self._condition(f"{key}.when", spec.get("when"), known)
        kinds = [k for k in ("can", "frame", "serial") if k in spec]
        if len(kinds) != 1:
            any_action = KEYS["can_action"] | KEYS["frame_action"] | KEYS["serial_action"]
            if not kinds and any(self._misspelt(spec, any_action, kind) for kind in ("can", "frame", "serial")):
                self._unknown_keys(key, spec, any_action)
            else:
                kinds_text = 'can = "MESSAGE" (with signals), frame = "ID#DATA", serial = "port"'
                self.report(key, f"an action is one of: {kinds_text}")
            return None
        kind = kinds[0]
        if kind == "can":
            self._unknown_keys(key, spec, KEYS["can_action"])
            signals = spec.get("signals", {})
            if not isinstance(spec["can"], str) or not isinstance(signals, dict) or not signals:
                if "signals" in spec or not self._misspelt(spec, KEYS["can_action"], "signals"):
                    self.report(key, 'write can = "MESSAGE_NAME" and signals = { Signal = value, ... }')
                return None
            for signal, value in signals.items():
                if isinstance(value, bool) or not isinstance(value, str | int | float):
                    self.report(f"{key}.signals.{signal}", 'a signal value is a number, a value name or "{slot}"')
                    return None
                if isinstance(value, str) and not self._check_placeholders(f"{key}.signals.{signal}", value, known):
                    return None
            clamp = spec.get("clamp")
            if clamp is not None and not (
                isinstance(clamp, list)
                and len(clamp) == 2
                and all(isinstance(c, int | float) for c in clamp)
                and clamp[0] <= clamp[1]
            ):
                self.report(f"{key}.clamp", "must be [lowest, highest]")
                return None
            return CanAction(spec["can"], dict(signals), when, key, tuple(clamp) if clamp else None)
        if kind == "frame":
            self._unknown_keys(key, spec, KEYS["frame_action"])
            frame = parse_frame_text(str(spec["frame"]))
            if frame is None:
                self.report(
                    f"{key}.frame",
                    f"{spec['frame']!r} is not a frame like 123#0102 (3 or 8 hex digits, # and up to 8 bytes)",
                )
                return None
            ident, _, extended = frame
            if diagnostic_id(ident, extended):
                text = str(spec["frame"])
                self.report(f"{key}.frame", DIAGNOSTIC.format(ident=text.partition("#")[0]), text)
                return None
            return RawFrameAction(*frame, when, key)
        self._unknown_keys(key, spec, KEYS["serial_action"])
        port, write = spec["serial"], spec.get("write")
        if not self._port_defined(f"{key}.serial", port, serial):
            return None
        if not isinstance(write, str) or not write:
            if "write" in spec or not self._misspelt(spec, KEYS["serial_action"], "write"):
                self.report(key, 'a serial action needs write = "..." (the bytes to send)')
            return None
        if not self._check_placeholders(f"{key}.write", write, known):
            return None
        expect = spec.get("expect")
        timeout = spec.get("timeout", 1.0)
        if expect is not None and not isinstance(expect, str):
            self.report(f"{key}.expect", "must be text")
            return None
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            self.report(f"{key}.timeout", "must be a number of seconds greater than 0")
            return None
        return SerialAction(port, write, expect, float(timeout), when, key)

    def _text(self, data: dict[str, Any], key: str, name: str) -> str:
        text = data.get(name, "")
        if not isinstance(text, str):
            self.report(f"{key}.{name}", "must be text")
            return ""
        self._check_placeholders(f"{key}.{name}", text, set())
        return text
