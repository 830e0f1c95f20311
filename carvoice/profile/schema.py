"""The keys each table of a profile may have, and reading a key as the type it must be."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, overload

from carvoice.profile.model import (
    AudioSettings,
    CanAction,
    CanSettings,
    ObdSettings,
    RecognitionSettings,
    Replies,
    Reply,
    SerialAction,
    SerialButton,
    SerialPortSettings,
    WakeSettings,
)
from carvoice.profile.sources import Sources
from carvoice.profile.suggest import known_names, nearest


def _keys_of(
    model: Any, *, without: frozenset[str] = frozenset(), written: Mapping[str, str] | None = None
) -> set[str]:
    """The keys a table has: the fields of the dataclass it is read into, as an installer writes them."""
    names = written or {}
    return {names.get(f.name, f.name) for f in fields(model) if f.name not in without}


KEYS = {
    "profile": {"name", "description"},
    "wake": _keys_of(WakeSettings),
    "serial_button": _keys_of(SerialButton, written={"port": "serial"}),
    "audio": _keys_of(AudioSettings),
    "can": _keys_of(CanSettings),
    "obd": _keys_of(ObdSettings),
    "state_source": {"signal", "obd", "max_age", "counter", "checksum", "checksum_type"},
    "recognition": _keys_of(RecognitionSettings),
    "replies": _keys_of(Replies),
    "serial_port": _keys_of(SerialPortSettings, without=frozenset({"name"})),
    "slot": {"values", "range", "step"},
    "intent": {
        "sentences",
        "defaults",
        "examples",
        "reply",
        "replies",
        "actions",
        "description",
        "allow_when",
        "refusal",
        "confirm_when",
        "question",
        "confirm_below",
    },
    "reply": _keys_of(Reply),
    "can_action": _keys_of(CanAction, without=frozenset({"key"}), written={"message": "can"}),
    "frame_action": {"frame", "when"},
    "serial_action": _keys_of(SerialAction, without=frozenset({"key"}), written={"port": "serial"}),
}


class Schema(Sources):
    """Typed access to a table's keys: a wrong type or an unknown key is a problem, not a crash."""

    def _table(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        table = data.get(name, {})
        self._unknown_keys(name, table, KEYS[name])
        return table

    @staticmethod
    def _misspelt(table: dict[str, Any], allowed: set[str], name: str) -> bool:
        """True when the table has an unknown key most like `name`: it is reported as unknown (with
        "did you mean"), so that `name` is missing is the same mistake and not said again."""
        return any(key not in allowed and nearest(str(key), allowed) == name for key in table)

    def _unknown_keys(self, key: str, table: dict[str, Any], allowed: set[str]) -> None:
        for name in table:
            if name not in allowed:
                self.report(f"{key}.{name}", "unknown key " + known_names(name, allowed))

    def _typed(self, table: dict[str, Any], key: str, name: str, kind: type | tuple, default: Any) -> Any:
        value = table.get(name, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, kind):
            kinds = kind if isinstance(kind, tuple) else (kind,)
            wanted = " or ".join(
                {"str": "text", "int": "a whole number", "float": "a number"}[k.__name__] for k in kinds
            )
            self.report(f"{key}.{name}", f"must be {wanted}, not {value!r}")
            return default
        return value

    @overload
    def _confidence(self, table: dict[str, Any], key: str, name: str, default: float) -> float: ...

    @overload
    def _confidence(self, table: dict[str, Any], key: str, name: str, default: None) -> float | None: ...

    def _confidence(self, table: dict[str, Any], key: str, name: str, default: float | None) -> float | None:
        """A confidence (0..1); a wrong one is a problem and leaves `default`."""
        value = self._typed(table, key, name, (int, float), default)
        if value is default:
            return default
        if not 0 <= value <= 1:
            self.report(f"{key}.{name}", f"must be between 0 and 1, not {float(value)}")
            return default
        return float(value)

    @overload
    def _confirm_bar(self, table: dict[str, Any], key: str, default: float) -> float: ...

    @overload
    def _confirm_bar(self, table: dict[str, Any], key: str, default: None) -> float | None: ...

    def _confirm_bar(self, table: dict[str, Any], key: str, default: float | None) -> float | None:
        """`confirm_below`: a confidence under 1, since at 1 every command would be asked about and
        no yes would ever be heard surely enough to carry one out."""
        below = self._confidence(table, key, "confirm_below", default)
        if below is not None and below >= 1:
            self.report(f"{key}.confirm_below", f"must be below 1: at {below:g} no command could ever be carried out")
            return default
        return below

    def _positive(self, table: dict[str, Any], key: str, name: str, default: float) -> float:
        value = float(self._typed(table, key, name, (int, float), default))
        if value <= 0:
            self.report(f"{key}.{name}", f"must be greater than 0, not {value}")
            return default
        return value

    def _list_of_tables(self, key: str, value: Any) -> list[dict[str, Any]]:
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.report(key, f"write each one as a [[{key}]] table")
            return []
        return value
