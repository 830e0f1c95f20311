"""The pipeline: audio -> wake -> recognise -> intent -> safety -> act -> speak.

`Agent.listen` runs the loop over any audio source; `Agent.handle_words` is
everything after recognition, shared by spoken and typed commands so that
`carvoice text` behaves exactly like the daemon.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

import numpy as np

from carvoice import events
from carvoice.act import ActionFailed, ActionSink
from carvoice.act.plan import PlanError, fill_placeholders, plan_actions
from carvoice.audio import SAMPLE_RATE, AudioSource
from carvoice.audio.endpoint import Endpointer, NoiseFloor, Status, frame_level_db
from carvoice.intent.grammar import SlotValueType
from carvoice.profile.conditions import Unknown
from carvoice.profile.model import Profile
from carvoice.profile.summary import help_examples
from carvoice.recognise.command import CommandRecogniser, Recognition
from carvoice.recognise.engine import SpeechEngine, engine_for
from carvoice.safety.gate import SafetyGate
from carvoice.speak.speaker import Speaker
from carvoice.speak.tts import SpeechFailed
from carvoice.wake.detector import WakeDetector

# After the agent's own voice stops, it stays deaf this long more (room echo, buffering).
ECHO_TAIL_SECONDS = 0.3
# Audio kept so that a command spoken straight after the wake phrase is not clipped.
RECENT_SECONDS = 1.0


class Agent:
    def __init__(
        self,
        profile: Profile,
        emit: events.Emit,
        sinks: Sequence[ActionSink],
        speaker: Speaker | None = None,
        engine: SpeechEngine | None = None,
    ) -> None:
        self.profile = profile
        self.emit = emit
        self.sinks = list(sinks)
        self.speaker = speaker
        self.engine = engine
        self.gate = SafetyGate(profile)
        self.position = 0  # samples of audio heard so far
        self._deaf_until = 0
        self._generation = 0  # bumped when the profile is replaced while listening
        self.tick: Callable[[], None] | None = None  # called once per frame (watchdog, reload)

    def replace_profile(self, profile: Profile, engine: SpeechEngine | None = None) -> None:
        """Switch to another profile; a command being heard is dropped, listening starts afresh."""
        engine = engine or engine_for(profile)
        self.profile, self.engine, self.gate = profile, engine, SafetyGate(profile)
        self._generation += 1

    @property
    def now(self) -> float:
        return self.position / SAMPLE_RATE

    # -- after recognition: shared by speech and text --------------------------------------

    def handle_words(self, words: Sequence[str], confidence: float = 1.0, rival: str | None = None) -> None:
        text = " ".join(words)
        verdict = self.gate.review(tuple(words), confidence, rival)
        if not verdict.accepted:
            self.emit(events.Rejected(self.now, reason=verdict.reason, text=text, confidence=round(confidence, 3)))
            self.say(self.profile.replies.not_understood)
            return
        self.emit(
            events.Intent(
                self.now, intent=verdict.intent, slots=verdict.slots, text=text, confidence=round(confidence, 3)
            )
        )
        self.execute(verdict.intent, verdict.slots)

    def handle_recognition(self, recognition: Recognition) -> None:
        self.handle_words(recognition.words, recognition.confidence, recognition.rival)

    def execute(self, intent_name: str, slots: dict[str, SlotValueType]) -> None:
        intent = self.profile.intents[intent_name]
        try:
            actions = plan_actions(self.profile, intent, slots)
        except PlanError as error:
            self._fail(f"cannot plan {intent_name}: {error}", "plan")
            return
        foreign = self.gate.foreign_frames(actions)
        if foreign:
            self._fail(f"refused frames the profile does not define: {', '.join(f.text for f in foreign)}", "safety")
            return
        failed = False
        for action in actions:
            sink = next((s for s in self.sinks if s.accepts(action)), None)
            try:
                if sink is None:
                    raise ActionFailed(f"nothing here can carry out {type(action).__name__}")
                self.emit(sink.perform(action, self.now))
            except ActionFailed as error:
                self.emit(events.Error(self.now, message=str(error), source="act"))
                failed = True
        if failed:
            self.say(self.profile.replies.failed)
            return
        reply = self._reply_text(intent_name, slots)
        if reply:
            self.say(reply)

    def _fail(self, message: str, source: str) -> None:
        self.emit(events.Error(self.now, message=message, source=source))
        self.say(self.profile.replies.failed)

    def _reply_text(self, intent_name: str, slots: dict[str, SlotValueType]) -> str | None:
        intent = self.profile.intents[intent_name]
        values = dict(slots)
        lookup = values.get
        for reply in intent.replies:
            try:
                if reply.when is not None and not reply.when.evaluate(lambda n: lookup(n, self.profile.vehicle.get(n))):
                    continue
            except Unknown:
                continue
            if "{examples}" in reply.text:
                values["examples"] = help_examples(self.profile)
            try:
                return fill_placeholders(reply.text, values)
            except KeyError:
                continue
        return None

    def say(self, text: str) -> None:
        if self.speaker is None:
            self.emit(events.Say(self.now, text=text))
            return
        try:
            spoken = self.speaker.say(text)
        except SpeechFailed as error:
            self.emit(events.Error(self.now, message=str(error), source="speech"))
            return
        self.emit(events.Say(self.now, text=text, file=spoken.file))
        if self.speaker.live:
            self._deaf_until = self.position + round((spoken.seconds + ECHO_TAIL_SECONDS) * SAMPLE_RATE)

    # -- the listening loop -------------------------------------------------------------------

    def listen(self, source: AudioSource, awake: bool = False) -> None:
        """Run until the source ends (a recording) or fails (raises AudioSourceError).

        `awake` starts as if the wake phrase had just been heard: the evaluator decodes
        recorded commands exactly as the daemon does after a wake phrase.
        """
        if self.engine is None:
            self.engine = engine_for(self.profile)
        generation = self._generation
        wake = WakeDetector(self.engine)
        recogniser = CommandRecogniser(self.engine, self.profile)
        floor = NoiseFloor()
        recent: collections.deque[tuple[int, np.ndarray]] = collections.deque()
        endpointer = self._begin_command(recogniser, floor) if awake else None
        if not awake:
            wake.restart(self.position)
        deaf = False
        self.emit(
            events.Ready(
                self.now, profile=self.profile.name, wake_phrase=self.profile.wake.phrase, source=source.description
            )
        )
        for frame in source.frames():
            if self.tick is not None:
                self.tick()
            if generation != self._generation:
                generation = self._generation
                wake, endpointer = WakeDetector(self.engine), None
                recogniser = CommandRecogniser(self.engine, self.profile)
                wake.restart(self.position)
            start = self.position
            self.position += len(frame)
            level = frame_level_db(frame)
            floor.update(level)
            recent.append((start, frame))
            while recent and recent[0][0] < self.position - RECENT_SECONDS * SAMPLE_RATE:
                recent.popleft()
            if self._hearing_itself():
                if endpointer is not None:
                    recogniser.finish()
                    endpointer = None
                deaf = True
                continue
            if deaf:
                deaf = False
                wake.restart(start)
            if endpointer is None:
                wake_end = wake.feed(frame)
                if wake_end is None:
                    continue
                self.emit(events.Wake(wake_end / SAMPLE_RATE, phrase=self.profile.wake.phrase))
                endpointer = self._begin_command(recogniser, floor)
                status = Status.WAITING
                for piece_start, piece in recent:  # what was said since the phrase ended
                    tail = piece[max(0, wake_end - piece_start) :]
                    if len(tail):
                        recogniser.feed(tail)
                        status = endpointer.feed(frame_level_db(tail))
            else:
                recogniser.feed(frame)
                status = endpointer.feed(level)
            if status in (Status.END, Status.TOO_LONG, Status.NO_SPEECH):
                self._finish_command(recogniser, status)
                endpointer = None
                wake.restart(self.position)
        if endpointer is not None:
            self._finish_command(recogniser, Status.END if endpointer.speech_start is not None else Status.NO_SPEECH)
        self.engine.stop()

    def _begin_command(self, recogniser: CommandRecogniser, floor: NoiseFloor) -> Endpointer:
        settings = self.profile.recognition
        recogniser.begin()
        return Endpointer(
            floor,
            trailing_silence=settings.trailing_silence,
            listen_seconds=settings.listen_seconds,
            max_seconds=settings.max_command_seconds,
        )

    def _hearing_itself(self) -> bool:
        if self.position <= self._deaf_until:
            return True
        return self.speaker is not None and self.speaker.live and self.speaker.busy()

    def _finish_command(self, recogniser: CommandRecogniser, status: Status) -> None:
        recognition = recogniser.finish()
        if status is Status.NO_SPEECH:
            self.emit(events.Rejected(self.now, reason="no command followed the wake phrase"))
            return
        self.handle_recognition(recognition)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        if self.speaker is not None:
            self.speaker.close()
