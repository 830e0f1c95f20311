"""The JSON event stream stays pure JSON whatever the CPU speed.

On a slow CPU (a Raspberry Pi, an emulated arm64 root) pyttsx3's espeak driver announced each file it
wrote on stdout, from espeak-ng's own thread, after the moment the synthesizer had stopped hiding it.
Here the speech engine is slowed down the same way: each of espeak-ng's callbacks waits first, and at
the end of every utterance it also writes straight to file descriptor 1, as a C library would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from carvoice import events
from carvoice.audio.synth import silence, speech, with_noise_floor
from carvoice.audio.wavfile import write_wav
from carvoice.cli.text import NOT_UNDERSTOOD
from tests.conftest import needs

NOISE = "third-party noise from espeak-ng's thread"

SLOW_CARVOICE = f"""
import os, sys, time
import pyttsx3.drivers.espeak as driver
from pyttsx3.drivers import _espeak

synthesize = driver.EspeakDriver._onSynth

def slowly(self, wav, numsamples, events):
    time.sleep(0.3)
    if events[0].type == _espeak.EVENT_MSG_TERMINATED:
        os.write(1, b"{NOISE}\\n")
    return synthesize(self, wav, numsamples, events)

driver.EspeakDriver._onSynth = slowly
from carvoice.cli import main
sys.exit(main())
"""


def run_slowly(tmp_path: Path, *argv: str, status: int = 0) -> tuple[list[events.Event], str]:
    """carvoice ARGV with the slowed speech engine: the events on stdout, and stderr; it must exit with `status`."""
    done = subprocess.run(
        [sys.executable, "-c", SLOW_CARVOICE, *argv, "--events", "json", "--speech-dir", str(tmp_path / "speech")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert done.returncode == status, done.stderr
    assert "Audio saved" not in done.stdout + done.stderr  # the driver's own print is logged, not printed
    return [events.from_json_line(line) for line in done.stdout.splitlines()], done.stderr


@needs("espeak-ng")
def test_text_prints_only_json_while_speech_is_slow(tmp_path):
    heard, stderr = run_slowly(tmp_path, "text", "open the glovebox", status=NOT_UNDERSTOOD)
    assert [type(e) for e in heard] == [events.Rejected, events.Say]
    assert Path(str(heard[1].file)).stat().st_size > 1000
    assert stderr.count(NOISE) == 1  # the noise was made, and went to stderr


@needs("espeak-ng")
def test_run_prints_only_json_while_speech_is_slow(tmp_path):
    recording = tmp_path / "command.wav"
    phrases = [silence(0.5), speech("okay nabu", "en-us", 150), silence(0.3)]
    phrases += [speech("lock the doors", "en-us", 150), silence(1.5)]
    write_wav(recording, with_noise_floor(np.concatenate(phrases)))
    heard, stderr = run_slowly(tmp_path, "run", "--audio", str(recording))
    assert isinstance(heard[0], events.Ready)
    assert [e.intent for e in heard if isinstance(e, events.Intent)] == ["lock"]
    spoken = [e for e in heard if isinstance(e, events.Say)]
    assert spoken and stderr.count(NOISE) == len(spoken)
