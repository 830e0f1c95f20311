"""Background noise for measuring the agent: mixing at a given SNR, and a synthetic car cabin.

SNR is measured in the speech band, 100-4000 Hz: 10·log10 of the power of the
whole recording in that band over the power of the added noise in that band,
across the same span. Leading and trailing silence is part of "the whole
recording" (as in the published benchmarks), so a clip with long pauses gets
relatively more noise than its words alone would suggest. A whole-band ratio
would flatter the recogniser in a car: cabin noise has most of its power below
100 Hz, where no word lives (real Volvo cabin noise has 5 % of its power in the
band), so a whole-band 6 dB is about 18 dB where speech is. Kitchen noise has
nearly all its power in the band, so its figures barely change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Imported with the module, not on first use: the daemon imports this module while OpenSSL is kept
# out (carvoice/cli/__init__.py), and numpy.random brings it in through secrets and hmac (3.3 MB).
from numpy.random import default_rng

from carvoice.audio import SAMPLE_RATE
from carvoice.audio.wavfile import read_wav

CABIN = "cabin"  # --noise cabin: the generator below instead of a file
CABIN_SECONDS = 120.0  # as long as the kitchen recording, so offsets vary as much


SPEECH_BAND = (100.0, 4000.0)  # Hz: where SNR is measured


def percentile(values: Sequence[float] | np.ndarray, share: float) -> float:
    """`np.percentile(values, share)` (linear, the same float), without the `np.unique` inside it
    that imports numpy.ma: 1.3 MB of the daemon's peak RSS for a low percentile of the endpointer's
    levels, a command's pauses and its words' median pace (README, "Latency, CPU and memory"; at 50
    it may differ from `np.median`, which averages the middle two, in the last bit)."""
    ordered = np.sort(np.asarray(values, dtype=np.float64), axis=None)
    if len(ordered) == 0:
        raise ValueError("no values to take a percentile of")
    position = share / 100 * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    low, high, fraction = ordered[below], ordered[above], position - below
    return float(high - (high - low) * (1 - fraction) if fraction >= 0.5 else low + (high - low) * fraction)


def mean_square(samples: np.ndarray) -> float:
    return float(np.mean(np.square(samples.astype(np.float64)))) if len(samples) else 0.0


class BandPower:
    """The mean square inside a frequency band of spans `length` samples long, each weighed by
    `window` first (Parseval over one FFT per span, the window's own power divided out): one
    computation for the SNR of a mix, a recording's own SNR and the endpointer's frame levels."""

    def __init__(self, length: int, band: tuple[float, float] = SPEECH_BAND, window: np.ndarray | None = None) -> None:
        self.window = np.ones(length) if window is None else window
        freqs = np.fft.rfftfreq(length, 1.0 / SAMPLE_RATE)
        inside = (freqs >= band[0]) & (freqs <= band[1])
        weights = np.where((freqs == 0) | (freqs == SAMPLE_RATE / 2), 1.0, 2.0)  # one-sided bins count twice
        self._inside = inside
        self._weights = weights[inside] / (length * float(np.sum(self.window**2)))

    def __call__(self, spans: np.ndarray) -> np.ndarray:
        """The band's mean square of each span (the last axis holds the samples)."""
        spectrum = np.fft.rfft(spans.astype(np.float64) * self.window, axis=-1)[..., self._inside]
        return np.sum((spectrum.real**2 + spectrum.imag**2) * self._weights, axis=-1)


def band_mean_square(samples: np.ndarray, band: tuple[float, float] = SPEECH_BAND) -> float:
    """The mean square of the part of `samples` inside `band`, over the whole span."""
    return float(BandPower(len(samples), band)(samples)) if len(samples) else 0.0


def estimated_snr_db(samples: np.ndarray, quiet_share: float = 0.2) -> float:
    """The SNR of a recording in the speech band, estimated from the recording alone.

    The noise is the mean speech-band power of its quietest `quiet_share` of 10 ms frames
    (the pauses between and around the words), the signal what the other frames hold
    above it, over the whole span as `mix` sets it. On the demo car's commands in cabin noise
    that `mix` set to 20 and 6 dB it reads 15-19 and 7-10 dB, on clean ones 35-46 dB (the
    microphone floor), on the real coffee orders 27-42 dB.
    """
    frame = SAMPLE_RATE // 100
    count = len(samples) // frame
    if count == 0:
        return float("inf")
    power = BandPower(frame, SPEECH_BAND, np.hanning(frame))(samples[: count * frame].reshape(count, frame))
    noise = float(np.mean(np.sort(power)[: max(1, round(count * quiet_share))]))
    signal = float(np.mean(power)) - noise
    if noise <= 0.0:
        return float("inf")
    return 10.0 * float(np.log10(max(signal, noise * 1e-6) / noise))


def noise_span(noise: np.ndarray, length: int, offset: int) -> np.ndarray:
    """`length` samples of noise from `offset`, looped when the noise is shorter."""
    if len(noise) == 0:
        raise ValueError("the noise is empty")
    indices = (offset + np.arange(length)) % len(noise)
    return noise[indices].astype(np.float64)


def noise_gain(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> float:
    """The factor that puts `noise` at `snr_db` below `signal` in the speech band (0 for silence in it)."""
    signal_power, noise_power = band_mean_square(signal), band_mean_square(noise)
    if signal_power == 0.0 or noise_power == 0.0:
        return 0.0
    return float(np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10))))


def mix(samples: np.ndarray, noise: np.ndarray, snr_db: float, offset: int, tail: int = 0) -> tuple[np.ndarray, float]:
    """`samples` plus noise at `snr_db` (int16), and the gain used.

    The gain is set on `samples` alone; `tail` more samples of the same noise follow
    them (the gap before the next clip in a wake-word stream), so the noise does not
    stop where the speech does.
    """
    span = noise_span(noise, len(samples) + tail, offset)
    gain = noise_gain(samples, span[: len(samples)], snr_db)
    padded = np.concatenate([samples.astype(np.float64), np.zeros(tail)])
    return np.clip(np.round(padded + gain * span), -32768, 32767).astype(np.int16), gain


def noise_floor(length: int, level_db: float, seed: int = 0) -> np.ndarray:
    """White noise at `level_db` dBFS RMS, in int16 units (float), the same for the same seed."""
    return default_rng(seed).normal(0.0, 32768.0 * 10 ** (level_db / 20), length)


def with_floor(samples: np.ndarray, level_db: float, seed: int = 0) -> np.ndarray:
    """int16 audio with a faint noise floor added, as any real microphone has."""
    noisy = samples.astype(np.float64) + noise_floor(len(samples), level_db, seed)
    return np.clip(np.round(noisy), -32768, 32767).astype(np.int16)


def load_noise(spec: str | Path, seed: int = 0, part: int = 0) -> np.ndarray:
    """A WAV file, or `cabin` for the synthetic cabin (the same seed gives the same noise).

    `part` 1 or 2 is the first or second half only: constants are tuned with one half of a
    noise recording and reported with the other; 0 is all of it.
    """
    noise = cabin_noise(CABIN_SECONDS, seed) if str(spec) == CABIN else read_wav(spec)
    if part not in (0, 1, 2):
        raise ValueError(f"noise part is 1 or 2 (a half) or 0 (all), not {part}")
    half = len(noise) // 2
    return noise[:half] if part == 1 else noise[half:] if part == 2 else noise


def _shaped(rng: np.random.Generator, length: int, gain_of: np.ndarray) -> np.ndarray:
    """White Gaussian noise shaped by an amplitude response over rfft frequencies, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(length)) * gain_of
    shaped = np.fft.irfft(spectrum, n=length)
    return shaped / (np.sqrt(mean_square(shaped)) or 1.0)


def cabin_noise(seconds: float, seed: int = 0, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Noise like the inside of a car at cruising speed, as int16 at a moderate level.

    No freely licensed cabin recording was at hand, so this builds one from what
    dominates a cabin physically:

    - Road and tyre noise (the loudest part): tyre tread and road texture excite the
      body structure, and the cabin acts as a low-pass enclosure, so the energy sits
      below about 100 Hz and falls 12 dB per octave above a 50 Hz corner, with a
      gentle rise towards the 30-60 Hz body/cavity ("boom") region.
    - Engine: a four-stroke four-cylinder engine fires twice per revolution, so its
      tone is the second engine order (rpm/60·2, about 80 Hz at 2400 rpm) with
      weaker 4th and 6th orders and some half orders; the rpm wanders slowly (the
      driver's foot), which smears the lines as in a real recording. 10 dB below
      the road noise.
    - Wind and HVAC: broadband pink-like noise above about 400 Hz that reaches into
      the speech band, 20 dB below the road noise; this part, not the rumble, is
      what masks consonants.
    - Slow level changes (surface changes): a 0.1-0.5 Hz modulation of ±2 dB.

    The levels are set so that 5 % of the power lies in the speech band (100-4000 Hz),
    as in real Volvo cabin noise (NOISEX-92): an SNR in that band then means what it
    would mean in a real car.
    """
    rng = default_rng(seed)
    length = round(seconds * sample_rate)
    freqs = np.fft.rfftfreq(length, 1.0 / sample_rate)
    safe = np.maximum(freqs, 1.0)
    road_response = (1.0 / np.sqrt(1.0 + (safe / 50.0) ** 4)) * (1.0 + 0.8 * np.exp(-(((safe - 45.0) / 20.0) ** 2)))
    road_response[freqs < 15.0] = 0.0  # below hearing and below what a microphone passes
    road = _shaped(rng, length, road_response)

    t = np.arange(length) / sample_rate
    wander = np.cumsum(rng.standard_normal(length // 1600 + 2))
    wander = np.interp(t, np.arange(len(wander)) * 0.1, wander - wander.mean())
    rpm = 2400.0 + 300.0 * np.tanh(wander / 10.0)
    revolutions = np.cumsum(rpm / 60.0) / sample_rate  # phase in revolutions
    engine = np.zeros(length)
    for order, level in ((1.0, 0.3), (2.0, 1.0), (3.0, 0.2), (4.0, 0.5), (6.0, 0.25), (8.0, 0.1)):
        engine += level * np.sin(2 * np.pi * order * revolutions + rng.uniform(0, 2 * np.pi))
    engine /= np.sqrt(mean_square(engine))

    wind_response = np.where(freqs > 0, 1.0 / np.sqrt(safe), 0.0) / np.sqrt(1.0 + (400.0 / safe) ** 4)
    wind = _shaped(rng, length, wind_response)

    modulation = 10 ** (2.0 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 6.3)) / 20)
    cabin = modulation * (road + 10 ** (-10 / 20) * engine) + 10 ** (-20 / 20) * wind
    cabin *= 3000.0 / np.sqrt(mean_square(cabin))  # about -21 dBFS: loud, clear of clipping
    return np.clip(np.round(cabin), -32768, 32767).astype(np.int16)


@dataclass(frozen=True)
class NoiseCondition:
    """What an evaluation adds to every recording: noise (a WAV or `cabin`, or one half of it) at a
    speech-band SNR, seeded."""

    noise: str | None = None
    snr_db: float = 12.0
    seed: int = 0
    part: int = 0

    def load(self) -> np.ndarray | None:
        return load_noise(self.noise, self.seed, self.part) if self.noise else None

    def apply(self, samples: np.ndarray, noise: np.ndarray | None, index: int, tail: int = 0) -> np.ndarray:
        """Recording `index` with its noise; the offset into the noise depends on the seed and index only."""
        if noise is None:
            return np.concatenate([samples, np.zeros(tail, dtype=np.int16)])
        offset = int(default_rng([self.seed, index]).integers(len(noise)))
        return mix(samples, noise, self.snr_db, offset, tail)[0]

    def describe(self) -> str:
        if not self.noise:
            return "clean"
        part = f" (half {self.part})" if self.part else ""
        return f"{Path(self.noise).name}{part} at {self.snr_db:g} dB speech-band SNR (seed {self.seed})"
