"""The wake tone: the driver hears that the car listens, without a word spoken over their command.

Made here rather than stored: two short rising notes, generated in a millisecond.
"""

from __future__ import annotations

import numpy as np

TONE_RATE = 16000
# Two notes a fifth apart (E6, B6), short enough to end before most drivers start the command.
NOTES = ((1318.5, 0.07), (1975.5, 0.09))
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
