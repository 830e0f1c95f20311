"""The pipeline: audio -> wake -> recognise -> intent -> safety -> act -> speak.

`Agent.listen` runs the loop over any audio source; `Agent.handle_words` is
everything after recognition, shared by spoken and typed commands so that
`carvoice text` behaves exactly like the daemon.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from carvoice import events
from carvoice.act import ActionFailed, ActionSink
from carvoice.act.plan import PlanError, StateReader, lookup_in, plan_actions
from carvoice.audio import FRAME_SAMPLES, SAMPLE_RATE, AudioSource, AudioSourceError
from carvoice.audio.endpoint import Endpointer, NoiseFloor, SpeechBandLevel, Status
from carvoice.errors import UnknownValue
from carvoice.intent.answers import NO, answer_of
from carvoice.intent.grammar import SlotValueType
from carvoice.lifetime import Closing, SupportsClose
from carvoice.profile import placeholders
from carvoice.profile.model import Profile
from carvoice.profile.summary import help_examples
from carvoice.recognise.command import AnswerRecogniser, CommandRecogniser, Recognition
from carvoice.recognise.engine import SpeechEngine, engine_for
from carvoice.safety.gate import Heard, SafetyGate
from carvoice.speak.speaker import Speaker
from carvoice.speak.tts import SpeechFailed
from carvoice.wake.button import PushToTalk
from carvoice.wake.spotter import spotter_for

# After the agent's own voice stops, it stays deaf this long more (room echo, buffering).
ECHO_TAIL_SECONDS = 0.3
# How long the agent waits for a yes or no after asking.
ANSWER_SECONDS = 5.0
# Audio kept so that a command spoken straight after the wake phrase is not clipped.
RECENT_SECONDS = 1.0
# A pause this long in a command is when its words are judged, ahead of the trailing silence that
# ends it (`Agent._judge_ahead`); the issue asked for 0.15-0.2 s, and shorter ones would judge
# between most words.
JUDGE_AHEAD_SECONDS = 0.2
# After a wake, a command that was not understood gets "Sorry?" only when it was plainly meant
# for the car: heard as a complete command whose sounds fit it at least this well (and with no
# word held over silence). Below it the agent stays silent, as it should after a false wake or
# when nobody spoke to it. Chosen on the "tune" half (README, "Wake phrase", "Measured"), with the
# speech-band SNR and recalibrated confidence: of real speech that is no command, fed whole as if
# after a false wake, 0.3 would say "Sorry?" to 24 of 244 rejected clips and 0.4 to 16 (the 6.6 %
# this constant was first chosen for); of real coffee orders rejected in kitchen noise at 6 dB,
# 0.3 asks again 49 of 59 and 0.4 47. Above 0.4 the real commands lose more (0.45: 44).
ASK_AGAIN_CONFIDENCE = 0.4


@dataclass(frozen=True)
class _Pending:
    """A command waiting for the driver's yes: a risky one (the profile's confirm_when), or one heard
    unsure, whose yes only says what was meant: the rules, confirm_when too, come after it."""

    intent: str
    slots: dict[str, SlotValueType]
    heard_unsure: bool = False


class Agent(Closing):
    """Built by carvoice.factory.build_agent; a context manager that closes what it owns.

    `ask`: without a microphone (`carvoice text`), how to get the answer to a question: words or None.
    `owned`: closed with the agent (the vehicle link, which owns the bus); `on_profile`: told of a reloaded profile.
    `push_to_talk`: the profile's button, which starts listening as the wake phrase does; closed with the agent and
    given each reloaded profile.
    """

    def __init__(
        self,
        profile: Profile,
        emit: events.Emit,
        sinks: Sequence[ActionSink],
        speaker: Speaker | None = None,
        engine: SpeechEngine | None = None,
        state: StateReader | None = None,
        *,
        ask: Callable[[str], Sequence[str] | None] | None = None,
        owned: Sequence[SupportsClose] = (),
        on_profile: Sequence[Callable[[Profile], None]] = (),
        push_to_talk: PushToTalk | None = None,
    ) -> None:
        self.profile = profile
        self.emit = emit
        self.sinks = list(sinks)
        self.speaker = speaker
        self.engine = engine
        self.state = state
        self.gate = SafetyGate(profile)
        self.position = 0  # samples of audio heard so far
        self._deaf_until = 0
        self._toning = False  # only the wake tone is playing: it does not make the agent deaf
        self._generation = 0  # bumped when the profile is replaced while listening
        self._pending: _Pending | None = None
        self.ask = ask
        self.owned = tuple(owned)
        self._on_profile = tuple(on_profile)
        self.push_to_talk = push_to_talk
        # Hearing a command or waiting for an answer: a profile reload waits until this is False.
        self.busy = False

    def replace_profile(self, profile: Profile, engine: SpeechEngine | None = None) -> None:
        """Switch to another profile; a command being heard is dropped (the daemon waits until `busy` is
        False), and the new wake detector hears the last second again, so a wake phrase being said is kept."""
        engine = engine or engine_for(profile)
        self.profile, self.engine, self.gate = profile, engine, SafetyGate(profile)
        self._pending = None
        self._generation += 1
        for tell in self._on_profile:
            tell(profile)
        if self.push_to_talk is not None:
            self.push_to_talk.replace_profile(profile)

    @property
    def now(self) -> float:
        return self.position / SAMPLE_RATE

    # -- after recognition: shared by speech and text --------------------------------------

    def handle_words(
        self,
        words: Sequence[str],
        confidence: float = 1.0,
        doubt: str | None = None,
        ask_again: bool = True,
        reason_to_ask: str = "",
    ) -> None:
        """`ask_again`: say "Sorry?" if the command is rejected (a typed command always was meant);
        `reason_to_ask`: the recogniser's reason to ask before carrying it out."""
        text = " ".join(words)
        verdict = self.gate.review(tuple(words), confidence, doubt)
        if not verdict.accepted:
            self.emit(events.Rejected(self.now, reason=verdict.reason, text=text, confidence=round(confidence, 3)))
            if ask_again:
                self.say(self.profile.replies.not_understood)
            return
        self.emit(
            events.Intent(
                self.now, intent=verdict.intent, slots=verdict.slots, text=text, confidence=round(confidence, 3)
            )
        )
        self.decide(verdict.intent, verdict.slots, Heard(text, confidence, reason_to_ask))

    def handle_recognition(self, recognition: Recognition) -> None:
        plainly_meant = recognition.confidence >= ASK_AGAIN_CONFIDENCE and recognition.drawn_out is None
        self.handle_words(
            recognition.words,
            recognition.confidence,
            recognition.doubt,
            ask_again=plainly_meant,
            reason_to_ask=recognition.reason_to_ask,
        )

    def decide(self, intent_name: str, slots: dict[str, SlotValueType], heard: Heard | None = None) -> None:
        """The profile's safety rules first: refuse, ask, or go ahead. `heard`: how a command that came
        by voice was heard."""
        if self.state is not None:
            self.state.catch_up()
        decision = self.gate.check_rules(self.profile.intents[intent_name], slots, self.state, heard)
        if decision.kind == "refuse":
            self.emit(events.Refused(self.now, intent=intent_name, reason=decision.reason))
            self.say(decision.spoken)
            return
        if decision.kind == "confirm":
            self.emit(events.Confirm(self.now, intent=intent_name, question=decision.spoken, reason=decision.reason))
            self.say(decision.spoken)
            self._pending = _Pending(intent_name, slots, heard_unsure=bool(decision.reason))
            if self.ask is not None:
                answer = self.ask(decision.spoken)
                self.handle_answer(tuple(answer) if answer else (), 1.0)
            return
        self.execute(intent_name, slots)

    def handle_answer_recognition(self, recognition: Recognition) -> None:
        """A spoken answer: a yes with "no" close behind it in noise is no clear yes."""
        doubt = recognition.doubt or recognition.reason_to_ask or None
        self.handle_answer(recognition.words, recognition.confidence, doubt)

    def handle_answer(self, words: Sequence[str], confidence: float, doubt: str | None = None) -> None:
        """Only a clear yes carries out the waiting command; anything else leaves the car alone."""
        if self.state is not None:
            self.state.catch_up()
        pending, self._pending = self._pending, None
        if pending is None:
            return
        answer = answer_of(tuple(words)) if words else None
        sure = self.profile.recognition.min_confidence
        if pending.heard_unsure:  # the yes is all there is to say the command was meant: it must be heard surely
            sure = max(sure, self.profile.confirm_below(self.profile.intents[pending.intent]))
        clear = answer is not None and confidence >= sure and doubt is None
        self.emit(
            events.Answer(
                self.now,
                answer=answer if clear and answer is not None else "none",
                text=" ".join(words),
                confidence=round(confidence, 3),
            )
        )
        if not clear:
            self.say(self.profile.replies.no_answer)
        elif answer == NO:
            self.say(self.profile.replies.cancelled)
        elif pending.heard_unsure:
            self.decide(pending.intent, pending.slots)
        else:
            decision = self.gate.check_rules(self.profile.intents[pending.intent], pending.slots, self.state)
            if decision.kind == "refuse":  # the car changed while we asked
                self.emit(events.Refused(self.now, intent=pending.intent, reason=decision.reason))
                self.say(decision.spoken)
            else:
                self.execute(pending.intent, pending.slots)

    def execute(self, intent_name: str, slots: dict[str, SlotValueType]) -> None:
        intent = self.profile.intents[intent_name]
        try:
            actions = plan_actions(self.profile, intent, slots, self.state)
        except UnknownValue as unknown:
            self.emit(events.Refused(self.now, intent=intent_name, reason=str(unknown)))
            self.say(self.gate.unknown_state_reply(unknown.name))
            return
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

    def _fail(self, message: str, source: events.ErrorSource) -> None:
        self.emit(events.Error(self.now, message=message, source=source))
        self.say(self.profile.replies.failed)

    def _reply_text(self, intent_name: str, slots: dict[str, SlotValueType]) -> str | None:
        """The first reply whose condition holds and whose values are all known."""
        known = lookup_in(self.profile, slots, self.state)

        def lookup(name: str) -> Any:
            return help_examples(self.profile) if name == "examples" else known(name)

        for reply in self.profile.intents[intent_name].replies:
            try:
                if reply.when is not None and not reply.when.evaluate(lookup):
                    continue
                return placeholders.fill(reply.text, lookup)
            except UnknownValue:
                continue
        return None

    def tone(self) -> None:
        """The wake tone. It does not make the agent deaf, so a command said at once is heard whole."""
        if self.speaker is None:
            return
        try:
            played = self.speaker.tone()
        except SpeechFailed as error:
            self.emit(events.Error(self.now, message=str(error), source="speech"))
            return
        self.emit(events.Tone(self.now, file=played.file))
        self._toning = self.speaker.live

    def say(self, text: str) -> None:
        self._toning = False
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

    def listen(self, source: AudioSource, awake: bool = False, tick: Callable[[], None] | None = None) -> None:
        """Run until the source ends (a recording) or fails (raises AudioSourceError).

        `awake` starts as if the wake phrase had just been heard: the evaluator decodes
        recorded commands exactly as the daemon does after a wake phrase.
        `tick` is called once per frame (the daemon's watchdog, signals and reloads).
        """
        if self.engine is None:
            self.engine = engine_for(self.profile)
        generation = self._generation
        wake = spotter_for(self.profile, self.engine)
        commands, answers = CommandRecogniser(self.engine, self.profile), AnswerRecogniser(self.engine, self.profile)
        floor, level_of = NoiseFloor(), SpeechBandLevel()
        # the last frames with their levels: a command said straight after the wake phrase starts in them
        recent: collections.deque[tuple[int, np.ndarray, float]] = collections.deque()
        capture: CommandRecogniser | None = None  # the recogniser hearing a command or an answer now
        endpointer: Endpointer | None = None
        if awake:
            capture, endpointer = commands, self._begin(commands, floor)
        else:
            wake.restart(self.position)
        deaf = False
        self.emit(
            events.Ready(
                self.now, profile=self.profile.name, wake_phrase=self.profile.wake.phrase, source=source.description
            )
        )
        for frame in self._frames(source):
            self.busy = capture is not None or self._pending is not None
            if tick is not None:
                tick()
            if generation != self._generation:
                generation = self._generation
                wake, capture, endpointer = spotter_for(self.profile, self.engine), None, None
                commands = CommandRecogniser(self.engine, self.profile)
                answers = AnswerRecogniser(self.engine, self.profile)
                wake.restart(recent[0][0] if recent else self.position)
                for _, piece, _ in recent:  # a phrase begun under the old profile completes under the new one
                    wake.feed(piece)
            start = self.position
            self.position += len(frame)
            level = level_of(frame)
            floor.update(level)
            recent.append((start, frame, level))
            while recent and recent[0][0] < self.position - RECENT_SECONDS * SAMPLE_RATE:
                recent.popleft()
            if self._hearing_itself():
                if capture is not None and capture is commands:
                    capture.finish()
                    capture = endpointer = None
                deaf = True
                continue
            if deaf:
                deaf = False
                wake.restart(start)
            if capture is None and self._pending is not None:
                capture, endpointer = answers, self._begin(answers, floor, ANSWER_SECONDS)
            pressed = self.push_to_talk is not None and self.push_to_talk.pressed(self.now)
            if capture is None and pressed:
                self.emit(events.Wake(self.now, phrase=self.profile.wake.phrase, by="button"))
                capture, endpointer = commands, self._begin(commands, floor)
                self.tone()
                continue  # the command starts after the press
            if capture is None:
                wake_end = wake.feed(frame)
                if wake_end is None:
                    continue
                self.emit(events.Wake(wake_end / SAMPLE_RATE, phrase=self.profile.wake.phrase))
                capture, endpointer = commands, self._begin(commands, floor)
                self.tone()
                status = Status.WAITING
                for piece_start, piece, piece_level in recent:  # what was said since the phrase ended
                    tail = piece[max(0, wake_end - piece_start) :]
                    if len(tail):  # its level is its frame's: the window ends where the frame ends
                        capture.feed(tail)
                        status = endpointer.feed(piece_level)
            else:
                assert endpointer is not None  # set together with capture
                capture.feed(frame)
                status = endpointer.feed(level)
            if status is Status.PAUSE:
                if capture is commands:
                    self._judge_ahead(capture, endpointer)
                status = Status.SPEECH
            elif status is Status.END and capture is commands and self._unfinished(capture, endpointer):
                status = Status.SPEECH
            if status in (Status.END, Status.TOO_LONG, Status.NO_SPEECH):
                left = endpointer.listening_left
                if self._finish(capture, status, endpointer.holding, left):
                    capture, endpointer = commands, self._begin(commands, floor, left)
                    continue
                capture = endpointer = None
                wake.restart(self.position)
        if capture is not None and endpointer is not None:
            status = Status.END if endpointer.speech_start is not None else Status.NO_SPEECH
            self._finish(capture, status, endpointer.holding)
        self.engine.stop()

    def _frames(self, source: AudioSource) -> Iterator[np.ndarray]:
        """The source's frames. A question does not outlive the audio it was to be answered in: left
        waiting, the next source (the microphone back later) would take the first "yes" heard in it
        as the answer to a question the driver may never have heard."""
        try:
            yield from source.frames()
        except AudioSourceError:
            if self._pending is not None:
                self.handle_answer((), 0.0)
            raise

    def _begin(self, recogniser: CommandRecogniser, floor: NoiseFloor, listen: float | None = None) -> Endpointer:
        settings = self.profile.recognition
        recogniser.begin()
        return Endpointer(
            floor,
            trailing_silence=settings.trailing_silence,
            short_pause=JUDGE_AHEAD_SECONDS,
            listen_seconds=listen or settings.listen_seconds,
            max_seconds=settings.max_command_seconds,
        )

    def _judge_ahead(self, recogniser: CommandRecogniser, endpointer: Endpointer) -> None:
        """At a short pause, judge the words so far as the trailing silence would, if they were heard
        cleanly and no longer sentence would change them: unless the driver goes on, that judgement
        stands when the trailing silence ends the command, so the work after the endpoint is only
        to read it (issue 13). The command is not ended here: a driver who corrects himself after a
        short pause ("open the driver window, no, the passenger window") would get the first half."""
        if not recogniser.heard_cleanly():
            return
        recogniser.lengthen_pause(endpointer.quiet_run * FRAME_SAMPLES, self.profile.recognition.trailing_silence)
        if not recogniser.may_grow_into_another():
            recogniser.judge()

    def _unfinished(self, recogniser: CommandRecogniser, endpointer: Endpointer) -> bool:
        """At a pause long enough to end a command: wait longer in it if more words would change it,
        or, in the command's first such pause, if what was heard so far would not be carried out: a
        driver who pauses before the last words ("open the ... passenger window") has said no
        command yet, and waiting only delays the "Sorry?" of one who has stopped. Once only, so that
        talk not meant for the car does not keep the agent listening. A pause judged ahead and not
        broken since is taken as it was judged then (`_judge_ahead`)."""
        if endpointer.holding:
            return False
        recogniser.back_to_lengthened_pause(endpointer.quiet_run * FRAME_SAMPLES)
        if not recogniser.may_grow_into_another() and (endpointer.holds or self._would_act(recogniser.judge())):
            return False
        recogniser.hold_pause()
        endpointer.hold(self.profile.recognition.unfinished_silence)
        return True

    def _would_act(self, recognition: Recognition) -> bool:
        """Whether the words would be taken as a command: carried out, or asked about first (a question
        answers the driver too, so the pause is not held for more words). Not one asked about for a last
        word whose end the noise covers (`Recognition.quiet_end`, `squeezed_end`): a driver who stopped
        inside a word sounds like that, so the pause is held for the rest as it was when such a command
        was rejected."""
        if recognition.quiet_end is not None or recognition.squeezed_end is not None:
            return False
        return self.gate.review(recognition.words, recognition.confidence, recognition.doubt).accepted

    def _finish(
        self, recogniser: CommandRecogniser, status: Status, still_paused: bool, listening_left: float = 0.0
    ) -> bool:
        """Judges what was heard; True when the driver is still to be listened to instead.

        `still_paused`: the command ends in a held pause that no speech broke. A sound that ended
        like a command but in which the grammar found not even the start of a sentence, with
        `listening_left` seconds of the listening time to go, is no command yet: a clatter just after
        the wake phrase ended the listening before real coffee orders began in kitchen noise
        ("nothing recognisable was said"; README, "A noise before the command"). It is dropped and
        the listening goes on. Words that begin a sentence and stop ("set the temperature to") are
        judged as before."""
        answer = isinstance(recogniser, AnswerRecogniser)
        recognition = recogniser.finish(
            still_paused, may_listen_on=not answer and status is Status.END and listening_left > 0
        )
        if answer:
            if status is Status.NO_SPEECH:
                self.handle_answer((), 0.0)
            else:
                self.handle_answer_recognition(recognition)
            return False
        if not recognition.words and not recognition.sentence_begun:  # looked for only where it may go on
            self.emit(events.ListenOn(self.now, seconds=round(listening_left, 2)))
            return True
        if status is Status.NO_SPEECH and not recognition.words:
            self.emit(events.Rejected(self.now, reason="no command followed the wake phrase"))
            return False
        # Even when the energy endpointer heard no speech start (loud cabin noise: 20 of 80
        # wake-prefixed commands at 6 dB), the grammar, confidence, duration and rival checks decide.
        self.handle_recognition(recognition)
        return False

    def _hearing_itself(self) -> bool:
        if self.position <= self._deaf_until:
            return True
        busy = self.speaker is not None and self.speaker.live and self.speaker.busy()
        self._toning = self._toning and busy
        return busy and not self._toning

    def close(self) -> None:
        if self.push_to_talk is not None:
            self.push_to_talk.close()
        for owned in self.owned:
            owned.close()
        for sink in self.sinks:
            sink.close()
        if self.speaker is not None:
            self.speaker.close()
