"""The one way an agent is put together: the daemon, `carvoice text`, soak and the tests.

Every caller chooses the same few things (which bus, where actions go, how it speaks, how a
question is answered) and gets the agent the daemon would run with them; what differs is passed
in, never set on the agent afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from serial import serial_for_url

from carvoice import events
from carvoice.act import ActionSink
from carvoice.act.can import CanSink
from carvoice.act.serial import SerialSink
from carvoice.agent import Agent
from carvoice.lifetime import SupportsClose
from carvoice.profile.model import Profile
from carvoice.recognise.engine import SpeechEngine
from carvoice.speak.speaker import Speaker
from carvoice.vehicle.link import VehicleLink
from carvoice.wake.button import PortOpener, PushToTalk, button_for


def build_agent(
    profile: Profile,
    emit: events.Emit,
    *,
    bus: tuple[str, str] | None = None,
    can_log: str | Path | None = None,
    report: Callable[[str], None] | None = None,
    serial: bool = True,
    sinks: Sequence[ActionSink] = (),
    speaker: Speaker | None = None,
    engine: SpeechEngine | None = None,
    ask: Callable[[str], Sequence[str] | None] | None = None,
    open_port: PortOpener = serial_for_url,
) -> Agent:
    """The agent, with the car's bus and the profile's serial ports as its daemon has them.

    `bus`: (interface, channel) of the car's CAN bus; the agent then owns the link to it (state,
    commands, OBD-II polling, the `can_log`) and closes it. Opening it raises what `VehicleLink` does.
    `report`: where trouble on the bus goes; by default an error event of the agent's stream.
    `serial`: the profile's serial ports as an action sink. `sinks`: more sinks, after those.
    `open_port`: how a serial push-to-talk button's port is opened (a test keeps the loop:// port it gives).
    """
    built: list[Agent] = []  # the bus threads may report before the agent exists

    def trouble(text: str, source: events.ErrorSource = "vehicle") -> None:
        emit(events.Error(built[0].now if built else 0.0, message=text, source=source))

    def button_trouble(text: str) -> None:
        trouble(text, "wake")

    link = VehicleLink(profile, *bus, can_log, report=report or trouble) if bus is not None else None
    try:
        every: list[ActionSink] = [CanSink(link.bus, link.name)] if link is not None else []
        if serial:
            every.append(SerialSink(profile.serial))
        owned: tuple[SupportsClose, ...] = (link,) if link is not None else ()
        agent = Agent(
            profile,
            emit,
            [*every, *sinks],
            speaker=speaker,
            engine=engine,
            state=link.state if link is not None else None,
            ask=ask,
            owned=owned,
            on_profile=(link.replace_profile,) if link is not None else (),
            push_to_talk=PushToTalk(
                lambda profile: button_for(profile, link.state if link else None, button_trouble, open_port), profile
            ),
        )
    except BaseException:
        if link is not None:  # its reader thread and the bus would outlive the failed agent
            link.close()
        raise
    built.append(agent)
    return agent


def link_of(agent: Agent) -> VehicleLink:
    """The link the agent was built with (for tests and tools that watch the car's state)."""
    for owned in agent.owned:
        if isinstance(owned, VehicleLink):
            return owned
    raise LookupError("the agent was built without a bus")
