"""The endpointer on a command with a pause inside it: a voiced word ending is not a silence."""

import numpy as np
import pytest

from carvoice.audio import FRAME_SAMPLES, SAMPLE_RATE
from carvoice.audio.endpoint import Endpointer, NoiseFloor, Status, frame_level_db
from carvoice.audio.synth import silence, speech, with_noise_floor
from tests.conftest import needs


def endpoint_at(audio: np.ndarray) -> float | None:
    """Seconds into `audio` at which the endpointer says END, as the agent runs it after a wake."""
    floor, endpointer = NoiseFloor(), None
    for start in range(0, len(audio), FRAME_SAMPLES):
        frame = audio[start : start + FRAME_SAMPLES]
        level = frame_level_db(frame)
        floor.update(level)
        if start < SAMPLE_RATE:  # the floor settles before the command, as it has during the wake phrase
            continue
        endpointer = endpointer or Endpointer(floor, trailing_silence=0.6)
        if endpointer.feed(level) == Status.END:
            return (start + len(frame)) / SAMPLE_RATE
    return None


def trimmed(text: str, voice: str) -> np.ndarray:
    """A phrase said on its own, without the synthesiser's silence around it."""
    said = speech(text, voice)
    loud = np.flatnonzero(np.abs(said) > 1e-3)
    return said[loud[0] : loud[-1] + 1]


@needs("flite")
@pytest.mark.parametrize("voice", ["flite:slt", "flite:awb"])
def test_a_short_pause_inside_a_number_does_not_end_the_command(voice):
    """"twenty ... six": a level that takes voiced word endings for silence (pre-emphasis took 8-10 dB
    off them) ended the command 0.3 s into the pause, and the car set 20 degrees instead of 26."""
    first, second = trimmed("set the temperature to twenty", voice), trimmed("six", voice)
    audio = with_noise_floor(np.concatenate([silence(3.0), first, silence(0.3), second, silence(2.0)]))
    six_starts = 3.0 + (len(first) + int(0.3 * SAMPLE_RATE)) / SAMPLE_RATE
    ended = endpoint_at(audio)
    assert ended is not None and ended > six_starts + 0.5, (ended, six_starts)


def test_a_held_pause_ends_later_unless_speech_resumes():
    """`hold` stretches the pause that ended the command; a word after it brings the usual silence back."""
    loud, quiet = -20.0, -60.0

    def paused() -> Endpointer:
        endpointer = Endpointer(NoiseFloor(initial_db=-60.0), trailing_silence=0.6)
        statuses = [endpointer.feed(loud) for _ in range(10)] + [endpointer.feed(quiet) for _ in range(20)]
        assert statuses[-1] is Status.END and Status.END not in statuses[:-1]
        endpointer.hold(1.2)
        return endpointer

    endpointer = paused()
    assert [endpointer.feed(quiet) for _ in range(19)] == [Status.SPEECH] * 19
    assert endpointer.feed(quiet) is Status.END  # 40 quiet frames: 1.2 s

    endpointer = paused()  # clicks (one loud frame each) do not end the hold, nor start the pause again
    statuses = [endpointer.feed(loud if index % 4 == 0 else quiet) for index in range(20)]
    assert statuses == [Status.SPEECH] * 19 + [Status.END], statuses

    endpointer = paused()
    statuses = [endpointer.feed(quiet) for _ in range(5)] + [endpointer.feed(loud) for _ in range(5)]
    assert not endpointer.holding
    statuses += [endpointer.feed(quiet) for _ in range(20)]
    assert statuses[-1] is Status.END and Status.END not in statuses[:-1]


@needs("flite")
@pytest.mark.parametrize("voice", ["flite:slt", "flite:awb"])
def test_the_agent_waits_out_a_pause_inside_a_number(demo_profile, engine, voice):
    """"set the temperature to twenty" + 0.45 s + "six": the quiet end of "twenty" and onset of "six"
    made the pause 0.6 s long to the endpointer, and the car was set to 20 degrees (slt, awb; an
    attacker's scan found 10 of 40 such cases in quiet audio). "twenty" could still grow into
    another command, so the agent waits the longer unfinished silence."""
    from carvoice import events
    from carvoice.act.dry import DryRunSink
    from carvoice.agent import Agent
    from carvoice.audio import SampleSource

    twenty, six = trimmed("set the temperature to twenty", voice), trimmed("six", voice)
    audio = with_noise_floor(np.concatenate([silence(1.0), twenty, silence(0.45), six, silence(2.0)]))
    heard: list[events.Event] = []
    with Agent(demo_profile, heard.append, [DryRunSink()], engine=engine) as agent:
        agent.listen(SampleSource(audio, "twenty ... six"), awake=True)
    assert [(e.intent, e.slots) for e in heard if isinstance(e, events.Intent)] == [("temperature", {"degrees": 26})]
