"""The wake tone: the driver hears that the car listens, without a word spoken over their command.

Made here rather than stored: two short rising notes, generated in a millisecond.
"""

from __future__ import annotations

import numpy as np

TONE_RATE = 16000
# Two short rising notes above the top of the recogniser's filter bank (the en-us model's front end
# stops at 6.8 kHz): the tone plays while the driver may already be saying the command, and its
# echo must not be heard as part of it. With notes at 1.3 and 2.0 kHz the echo cabin test
# (tests/test_end_to_end.py, the agent hearing its own speaker) lost "lock the doors" said in one
# breath with the phrase in 2 of 4 runs (confidence 0.45 to 0.49); at 7.0 and 7.4 kHz in 0 of 5.
NOTES = ((7000.0, 0.07), (7400.0, 0.09))
LEVEL = 0.25  # of full scale: clearly heard over road noise, not startling
FADE_SECONDS = 0.008  # raised-cosine edges, so the notes do not click


def wake_tone() -> np.ndarray:
    """The tone as int16 samples at TONE_RATE."""
    parts = []
    fade = round(FADE_SECONDS * TONE_RATE)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
    for frequency, seconds in NOTES:
        t = np.arange(round(seconds * TONE_RATE)) / TONE_RATE
        note = np.sin(2 * np.pi * frequency * t)
        note[:fade] *= ramp
        note[-fade:] *= ramp[::-1]
        parts.append(note)
    return np.round(np.concatenate(parts) * LEVEL * 32767).astype(np.int16)
