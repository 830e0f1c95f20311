"""What checking a profile needs from the stages above it, passed in so that `profile` imports none of them.

carvoice.check.STAGES holds the real ones (the planner, the CAN and serial senders, the vehicle's
OBD-II table and checksums, the wake models); a test may pass others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carvoice.intent.grammar import SlotValueType
from carvoice.profile.model import Intent, Profile


@dataclass(frozen=True)
class Stages:
    # Why a CAN interface may not be used (a bus over the network), or None.
    bus_problem: Callable[[str], str | None]
    # Raises ValueError saying what is wrong with a relayboard:// URL.
    check_relayboard_url: Callable[[str], object]
    # The OBD-II PIDs carvoice can read: number -> its name, and the lowest and highest value it carries.
    obd_pids: Mapping[int, str]
    obd_limits: Mapping[int, tuple[float, float]]
    # The checksum byte of a DBC message's other bytes, or None when the message cannot carry one.
    checksum_byte: Callable[[Any, Any], Any]
    # The micro wake model a [wake] model = ... names (found beside the profile or built in);
    # raises a CarvoiceError saying why not.
    wake_model: Callable[[str | None, Path], Any]
    # For one intent and one combination of its slots: (key, problem) for each action that
    # cannot be planned in some state of the car.
    plan_problems: Callable[[Profile, Intent, dict[str, SlotValueType]], Iterable[tuple[str, str]]]
    # Every combination of an intent's slot values the planner would see.
    slot_combinations: Callable[[Profile, Intent], Iterable[dict[str, SlotValueType]]]
