"""Loading a profile with every check, including those that need a stage above `profile`.

The profile package reads, validates and models a profile and imports no later stage; what
its checks need from the planner, the senders, the vehicle and the wake models is brought in
here, one layer above all of them (README, "Architecture").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from carvoice.act import protocol_relayboard
from carvoice.act.can import network_bus_problem
from carvoice.act.plan import PlanError, extreme_states, plan_actions, slot_combinations
from carvoice.errors import UnknownValue
from carvoice.intent.grammar import SlotValueType
from carvoice.profile.loader import Stages, read_profile
from carvoice.profile.model import Intent, Profile
from carvoice.vehicle.integrity import checksum_byte
from carvoice.vehicle.obd import PIDS


def load_profile(root: Path | str) -> Profile:
    """Load and fully check a profile; raises ProfileError listing every problem."""
    return read_profile(root, STAGES)


def _wake_model(spec: str | None, root: Path) -> Any:
    from carvoice.wake.micro import WakeModelError, builtin_models, find_model, load_model

    if not spec:
        raise WakeModelError(f"the micro engine needs a model: one of {', '.join(builtin_models())} or a .json")
    return load_model(find_model(spec, root))


def _plan_problems(profile: Profile, intent: Intent, slots: dict[str, SlotValueType]) -> Iterator[tuple[str, str]]:
    """The first action that cannot be planned with these slots, with the car at either end of its ranges."""
    try:
        for state in extreme_states(profile):
            plan_actions(profile, intent, slots, state)
    except (PlanError, UnknownValue) as error:
        yield error.key, str(error)


STAGES = Stages(
    bus_problem=network_bus_problem,
    check_relayboard_url=protocol_relayboard.protocol,
    obd_pids={number: pid.name for number, pid in PIDS.items()},
    obd_limits={number: (pid.minimum, pid.maximum) for number, pid in PIDS.items()},
    checksum_byte=checksum_byte,
    wake_model=_wake_model,
    plan_problems=_plan_problems,
    slot_combinations=slot_combinations,
)
