"""Replies through pyttsx3 and espeak-ng, written as WAV files that hold speech."""

import numpy as np

from carvoice.audio.endpoint import SpeechBandLevel
from carvoice.audio.wavfile import read_wav
from carvoice.speak.output import WavDirectoryOutput
from carvoice.speak.speaker import Speaker
from carvoice.speak.tts import SpeechFailed, Synthesizer
from tests.conftest import needs


@needs("espeak-ng")
def test_reply_becomes_a_wav_with_speech_in_it(tmp_path):
    speaker = Speaker(Synthesizer(), WavDirectoryOutput(tmp_path))
    spoken = speaker.say("Opening the driver window.")
    assert spoken.file == str(tmp_path / "say-0001.wav")
    samples = read_wav(spoken.file)
    assert 1.0 < spoken.seconds < 4.0
    level_of = SpeechBandLevel()
    levels = np.array([level_of(samples[i : i + 480]) for i in range(0, len(samples), 480)])
    assert (levels > -30).mean() > 0.4, "most of the reply should be voiced"
    assert (levels < -60).any(), "and it should have pauses"
    second = speaker.say("Sorry?")
    assert second.file.endswith("say-0002.wav") and second.seconds < spoken.seconds


def test_unknown_voice_is_an_error_not_garbage():
    try:
        Synthesizer(voice="no-such-voice").synthesize("hello")
    except SpeechFailed as error:
        assert "no voice 'no-such-voice'" in str(error)
    else:
        raise AssertionError("an unknown voice must fail")
