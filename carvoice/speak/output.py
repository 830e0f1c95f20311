"""Where synthesised speech goes: the cabin speaker, or WAV files when there is none."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from carvoice.audio.wavfile import write_wav


class SpeechOutput(Protocol):
    live: bool  # True when the sound reaches the cabin (and so the microphone)

    def play(self, samples: np.ndarray, rate: int) -> str | None:
        """Start playing; returns the file written, if any. Must not block for the whole reply."""
        ...

    def busy(self) -> bool: ...

    def close(self) -> None: ...


class WavDirectoryOutput:
    """Each reply as say-0001.wav, say-0002.wav, ... (machines without a sound card, tests)."""

    live = False

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def play(self, samples: np.ndarray, rate: int) -> str | None:
        self.count += 1
        path = self.directory / f"say-{self.count:04d}.wav"
        write_wav(path, samples, rate)
        return str(path)

    def busy(self) -> bool:
        return False

    def close(self) -> None:
        pass


class SpeakerOutput:
    """Plays through PyAudio on a thread so that the audio loop keeps running."""

    live = True

    def __init__(self, device: str | int | None = None) -> None:
        from carvoice.audio.devices import find_device, open_pyaudio

        self._pyaudio = open_pyaudio()
        self.device_index = find_device(self._pyaudio, device, output=True)
        self._thread: threading.Thread | None = None
        self._closed = False

    def play(self, samples: np.ndarray, rate: int) -> str | None:
        if self._thread is not None:
            self._thread.join()
        self._thread = threading.Thread(target=self._play, args=(samples, rate), daemon=True)
        self._thread.start()
        return None

    def _play(self, samples: np.ndarray, rate: int) -> None:
        import pyaudio

        stream = self._pyaudio.open(
            format=pyaudio.paInt16, channels=1, rate=rate, output=True, output_device_index=self.device_index
        )
        try:
            stream.write(np.ascontiguousarray(samples, dtype=np.int16).tobytes())
        finally:
            stream.stop_stream()
            stream.close()

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Safe to call twice, as the microphone's is: the agent closes its speaker, and so may its owner."""
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if not self._closed:
            self._closed = True
            self._pyaudio.terminate()
