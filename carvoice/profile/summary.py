"""What a profile understands, in the form tools and the `help` reply use."""

from __future__ import annotations

import random
from typing import Any

from carvoice.profile.model import Profile, SerialButton

NOT_FOR_HELP = ("help", "cancel")


def examples_of(profile: Profile, intent_name: str, count: int = 3) -> list[str]:
    """The profile's own examples first, then sentences sampled from the grammar."""
    intent = profile.intents[intent_name]
    examples = list(intent.examples)
    rng = random.Random(intent_name)
    for _ in range(20 * count):
        if len(examples) >= count:
            break
        sentence = profile.grammar.sample(intent_name, rng)
        if sentence not in examples:
            examples.append(sentence)
    return examples


def help_examples(profile: Profile, limit: int = 6) -> str:
    names = [n for n in profile.intents if n not in NOT_FOR_HELP][:limit]
    return ", ".join(examples_of(profile, n, 1)[0] for n in names)


def wake_summary(profile: Profile) -> dict[str, Any]:
    """How the profile wakes: the engine, its model and threshold, the push-to-talk button."""
    wake = profile.wake
    return {
        "phrase": wake.phrase,
        "engine": wake.engine,
        "model": str(wake.model.config) if wake.model else None,
        "threshold": wake.threshold,
        "button": _button_summary(profile),
    }


def _button_summary(profile: Profile) -> str | dict[str, str] | None:
    """A [state] value's name, or the serial port and lines of a switch."""
    button = profile.wake.button
    if not isinstance(button, SerialButton):
        return button
    return {"serial": button.port, "url": profile.serial[button.port].url, "line": button.line, "feed": button.feed}


def describe(profile: Profile) -> dict[str, Any]:
    return {
        "profile": profile.name,
        "root": str(profile.root),
        "wake_phrase": profile.wake.phrase,
        "wake": wake_summary(profile),
        "intents": [
            {
                "name": intent.name,
                "slots": {name: list(values) for name, values in intent.slot_values.items()},
                "examples": examples_of(profile, intent.name),
            }
            for intent in profile.intents.values()
        ],
    }
