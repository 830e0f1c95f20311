"""The figures an evaluation reports, computed from outcomes against labels."""

from __future__ import annotations

from typing import Any

from carvoice.evaluation.commands import Outcome

# What a command evaluation reports; a wake evaluation reports them as null.
COMMAND_KEYS = (
    "command_accuracy",
    "slot_accuracy",
    "wrong_action_rate",
    "false_action_rate",
    "rejection_rate",
)
WAKE_KEYS = ("miss_rate", "false_alarms_per_hour", "negative_hours")


def _same(label: dict[str, Any], got: dict[str, Any]) -> bool:
    return {k: str(v) for k, v in label.items()} == {k: str(v) for k, v in got.items()}


def is_correct(outcome: Outcome) -> bool:
    """Exactly one action, of the labelled intent, with every labelled slot right."""
    item = outcome.item
    return (
        len(outcome.intents) == 1 and outcome.intents[0][0] == item.intent and _same(item.slots, outcome.intents[0][1])
    )


def command_metrics(outcomes: list[Outcome]) -> dict[str, Any]:
    commands = [o for o in outcomes if o.item.intent is not None]
    others = [o for o in outcomes if o.item.intent is None]
    correct = sum(is_correct(o) for o in commands)
    slots_total = sum(len(o.item.slots) for o in commands)
    slots_right = sum(
        sum(str(o.intents[0][1].get(k)) == str(v) for k, v in o.item.slots.items())
        for o in commands
        if len(o.intents) == 1 and o.intents[0][0] == o.item.intent
    )
    acted_wrongly = sum(bool(o.intents) and not is_correct(o) for o in commands)
    rejected = [o for o in commands if not o.intents and o.rejections]
    audio = sum(o.audio_seconds for o in outcomes)

    def share(count: int, total: int) -> float | None:
        return round(count / total, 4) if total else None

    return {
        "n": len(outcomes),
        "commands": len(commands),
        "non_commands": len(others),
        "command_accuracy": share(correct, len(commands)),
        "slot_accuracy": share(slots_right, slots_total) if slots_total else share(correct, len(commands)),
        "wrong_action_rate": share(acted_wrongly, len(commands)),
        "rejection_rate": share(sum(not o.intents for o in commands), len(commands)),
        "false_action_rate": share(sum(bool(o.intents) for o in others), len(others)),
        # Quiet when nobody spoke: "Sorry?" for commands plainly tried, nothing said to the rest.
        "asked_again_of_rejected": share(sum(bool(o.replies) for o in rejected), len(rejected)),
        "reply_rate_to_non_commands": share(sum(bool(o.replies) for o in others), len(others)),
        "errors": sum(bool(o.error) for o in outcomes),
        "rtf": round(sum(o.cpu_seconds for o in outcomes) / audio, 4) if audio else None,
    } | dict.fromkeys(WAKE_KEYS)
