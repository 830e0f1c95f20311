"""Noise suppressors that could sit between the microphone and the agent, for measuring them.

`carvoice eval --front-end speex:-30` runs every recording (after any added noise, as a
microphone would hear it) through one, 10 ms at a time as a live stream would, before the
agent hears it. None is in the daemon: none helped the recogniser, on real kitchen noise or on
the synthetic cabin (README, "Front ends tried").
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

STEP = 160  # both suppressors take exactly 10 ms at 16 kHz
SPEEX, WEBRTC = "speex", "webrtc"
KINDS = (SPEEX, WEBRTC)
MODULES = {SPEEX: "pyspeex_noise", WEBRTC: "webrtc_noise_gain"}


@dataclass(frozen=True)
class FrontEnd:
    """`kind:suppression[:gain]`: speex suppresses by `suppression` dB (negative) and levels to a
    `gain` target (0: off); webrtc suppresses at level 0-4 and `gain` is its auto gain in dBFS (0: off)."""

    kind: str
    suppression: int
    gain: float = 0.0

    @classmethod
    def parse(cls, spec: str) -> FrontEnd:
        kind, _, rest = spec.partition(":")
        if kind not in KINDS:
            raise ValueError(f"unknown front end {kind!r} (known: {', '.join(KINDS)})")
        if importlib.util.find_spec(MODULES[kind]) is None:
            raise ValueError(f"{kind} needs {MODULES[kind]}: pip install 'carvoice[eval]' (or scripts/setup --test)")
        values = rest.split(":") if rest else []
        if not 1 <= len(values) <= 2:
            raise ValueError(f"{spec!r}: want {kind}:SUPPRESSION[:GAIN]")
        try:
            return cls(kind, int(values[0]), float(values[1]) if len(values) > 1 else 0.0)
        except ValueError:
            raise ValueError(f"{spec!r}: SUPPRESSION is a whole number, GAIN a number") from None

    def _step(self) -> Callable[[bytes], bytes]:
        if self.kind == SPEEX:
            from pyspeex_noise import AudioProcessor

            return AudioProcessor(self.gain, self.suppression).process_10ms
        from webrtc_noise_gain import AudioProcessor as WebRtcProcessor

        webrtc = WebRtcProcessor(int(self.gain), self.suppression)
        return lambda chunk: webrtc.Process10ms(chunk).audio

    def process(self, samples: np.ndarray) -> np.ndarray:
        """The samples as the suppressor, started afresh, lets them through (a partial last 10 ms is dropped)."""
        step = self._step()
        whole = len(samples) // STEP * STEP
        audio = np.ascontiguousarray(samples[:whole], dtype=np.int16).tobytes()
        out = b"".join(step(audio[i : i + 2 * STEP]) for i in range(0, len(audio), 2 * STEP))
        return np.frombuffer(out, dtype=np.int16).copy()
