"""Labelled recordings as JSON lines (the format of ../shared/data):

    {"audio": "clean/0001.wav", "intent": "orderDrink", "slots": {"size": "large"}}
    {"audio": "talk/0002.wav", "intent": null}               # not a command: must cause no action
    {"audio": "x.wav", "intent": "lock", "slots": {}, "wake_prefixed": true}   # wake phrase, then the command
    {"audio": "y.wav", "intent": null, "kind": "cut-before", "text": "set the wipers to high", "cut": "before 1"}
    {"audio": "computer/0003.wav", "wake": "computer"}        # a wake-word clip
    {"audio": "not-wake/x.wav", "wake": null}

Audio paths are relative to the manifest. Intent and slot names are compared in a profile's
snake_case: other tools' camelCase labels (`orderDrink`, `coffeeDrink`) read as `order_drink`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carvoice.errors import CarvoiceError


class ManifestError(CarvoiceError, ValueError):
    pass


@dataclass(frozen=True)
class Item:
    audio: Path
    intent: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    wake: str | None = None
    is_wake_item: bool = False
    text: str = ""
    wake_prefixed: bool = False  # the recording starts with the wake phrase: run it through the wake detector
    # what scripts/make-eval-set made it as: command, cut-before, cut-inside, paused, near-miss, extra-words, talk
    kind: str = ""
    # the synthetic voice and speed it was made with (scripts/make-eval-set): how its speaker answers a question
    voice: str = ""
    speed: int = 0

    def is_labelled(self, intent: str, slots: dict[str, Any]) -> bool:
        """Whether this command, slots and all, is the one the recording is labelled with."""
        return intent == self.intent and same_slots(self.slots, slots)

    @property
    def group(self) -> str:
        """The kind, or for other manifests whether it is a command at all."""
        return self.kind or ("command" if self.intent is not None else "not a command")


def read_manifest(path: Path | str) -> list[Item]:
    path = Path(path)
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ManifestError(f"{path}: {error}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            audio = path.parent / data["audio"]
            speed = int(data.get("speed") or 0)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ManifestError(f"{path}:{number}: not a manifest line ({error})") from None
        items.append(
            Item(
                audio=audio,
                intent=snake_case(data["intent"]) if data.get("intent") else None,
                slots={snake_case(k): v for k, v in (data.get("slots") or {}).items()},
                wake=data.get("wake"),
                is_wake_item="wake" in data,
                text=str(data.get("text", "")),
                wake_prefixed=bool(data.get("wake_prefixed", False)),
                kind=str(data.get("kind", "")),
                voice=str(data.get("voice", "")),
                speed=speed,
            )
        )
    return items


def same_slots(label: dict[str, Any], got: dict[str, Any]) -> bool:
    """Compared as text: a manifest's JSON may say 3 or "3" where the grammar's slot holds 3."""
    return {k: str(v) for k, v in label.items()} == {k: str(v) for k, v in got.items()}


def snake_case(name: str) -> str:
    """`orderDrink` -> `order_drink`; names already in snake_case are unchanged."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def write_manifest(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
