"""The figures an evaluation reports, computed from outcomes against labels."""

from __future__ import annotations

from typing import Any

from carvoice.evaluation.commands import Outcome
from carvoice.intent.answers import NO, YES

# What a command evaluation reports; a wake evaluation reports them as null.
COMMAND_KEYS = (
    "command_accuracy",
    "slot_accuracy",
    "wrong_action_rate",
    "false_action_rate",
    "false_answer_rate",
    "rejection_rate",
    "asked_rate",
    "asked_right_rate",
    "false_asked_rate",
    "done_after_yes_rate",
    "no_heard_as_yes",
)
WAKE_KEYS = ("miss_rate", "false_alarms_per_hour", "negative_hours")


def is_correct(outcome: Outcome) -> bool:
    """Exactly one action, of the labelled intent, with every labelled slot right."""
    return len(outcome.intents) == 1 and outcome.item.is_labelled(*outcome.intents[0])


def is_asked_right(outcome: Outcome) -> bool:
    """Asked about exactly the labelled command, slots and all: a yes would have carried it out."""
    return len(outcome.asked) == 1 and outcome.item.is_labelled(*outcome.asked[0])


def acts(outcome: Outcome) -> bool:
    """At least one accepted intent that sends something: a moved car, not just words."""
    return len(outcome.intents) > outcome.answers


def is_right(outcome: Outcome) -> bool:
    """A command carried out exactly as labelled, or anything else left alone."""
    return is_correct(outcome) if outcome.item.intent is not None else not outcome.intents


def done_after_yes(outcome: Outcome) -> bool:
    """Asked about the labelled command, and its speaker's yes was taken: it goes on as if heard surely."""
    return outcome.answer == YES and outcome.answer_heard == YES


def no_heard_as_yes(outcome: Outcome) -> bool:
    """Its speaker said no to the question, and the agent took a yes: what was not meant goes on."""
    return outcome.answer == NO and outcome.answer_heard == YES


def by_group(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    """Counts per kind of recording: right, asked about (heard unsure), wrong actions, wrong spoken
    answers, rejected, and errors (not evaluated: an unreadable file is no rejection); of those asked
    about, taken after their speaker's yes, and a no taken for a yes (`evaluate(answer=True)`)."""
    keys = ("n", "right", "asked", "actions", "answers", "rejected", "errors", "done_after_yes", "no_heard_as_yes")
    groups: dict[str, dict[str, int]] = {}
    for o in outcomes:
        counts = groups.setdefault(o.item.group, dict.fromkeys(keys, 0))
        counts["n"] += 1
        counts["done_after_yes"] += done_after_yes(o)
        counts["no_heard_as_yes"] += no_heard_as_yes(o)
        if o.error:
            counts["errors"] += 1
        elif o.asked and not o.intents:
            counts["asked"] += 1
        elif is_right(o):
            counts["right"] += 1
        elif acts(o):
            counts["actions"] += 1
        elif o.intents:
            counts["answers"] += 1
        else:
            counts["rejected"] += 1
    return groups


def command_metrics(outcomes: list[Outcome], answered: bool = False) -> dict[str, Any]:
    """Every rate is over the recordings evaluated: one that could not be read counts only under
    "errors", never as a rejection that kept the car still. `answered`: the speakers answered the
    questions (`evaluate(answer=True)`); without, the answer figures are null."""
    evaluated = [o for o in outcomes if not o.error]
    commands = [o for o in evaluated if o.item.intent is not None]
    others = [o for o in evaluated if o.item.intent is None]
    correct = sum(is_correct(o) for o in commands)
    slots_total = sum(len(o.item.slots) for o in commands)
    slots_right = sum(
        sum(str(o.intents[0][1].get(k)) == str(v) for k, v in o.item.slots.items())
        for o in commands
        if len(o.intents) == 1 and o.intents[0][0] == o.item.intent
    )
    acted_wrongly = sum(bool(o.intents) and not is_correct(o) for o in commands)
    rejected = [o for o in commands if not o.intents and not o.asked and o.rejections]
    asked = [o for o in commands if o.asked and not o.intents]
    audio = sum(o.audio_seconds for o in evaluated)

    def share(count: int, total: int) -> float | None:
        return round(count / total, 4) if total else None

    return {
        "n": len(outcomes),
        "commands": len(commands),
        "non_commands": len(others),
        "command_accuracy": share(correct, len(commands)),
        "slot_accuracy": share(slots_right, slots_total) if slots_total else share(correct, len(commands)),
        "wrong_action_rate": share(acted_wrongly, len(commands)),
        "rejection_rate": share(sum(not o.intents and not o.asked for o in commands), len(commands)),
        # Asked about first, as heard unsure. Both shares are of all commands: with a yes to every
        # question, command_accuracy + asked_right_rate would be carried out as labelled.
        "asked_rate": share(len(asked), len(commands)),
        "asked_right_rate": share(sum(is_asked_right(o) for o in asked), len(commands)),
        "false_action_rate": share(sum(acts(o) for o in others), len(others)),
        "false_asked_rate": share(sum(bool(o.asked) and not o.intents for o in others), len(others)),
        "false_answer_rate": share(sum(bool(o.intents) and not acts(o) for o in others), len(others)),
        # With the speakers answering the questions (`carvoice eval --answer`; else null): command_accuracy
        # + done_after_yes_rate is the share carried out, unasked or after one yes; no "no" may be taken for a yes.
        "done_after_yes_rate": share(sum(done_after_yes(o) for o in commands), len(commands)) if answered else None,
        "no_heard_as_yes": sum(no_heard_as_yes(o) for o in evaluated) if answered else None,
        # Quiet when nobody spoke: "Sorry?" for commands plainly tried, nothing said to the rest.
        "asked_again_of_rejected": share(sum(bool(o.replies) for o in rejected), len(rejected)),
        "reply_rate_to_non_commands": share(sum(bool(o.replies) for o in others), len(others)),
        "errors": sum(bool(o.error) for o in outcomes),
        "rtf": round(sum(o.cpu_seconds for o in evaluated) / audio, 4) if audio else None,
        "cpu_per_item": round(sum(o.cpu_seconds for o in evaluated) / len(evaluated), 3) if evaluated else None,
        "by_kind": by_group(outcomes),
    } | dict.fromkeys(WAKE_KEYS)
