"""The cabin microphone through PyAudio (PortAudio)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from carvoice.audio import FRAME_SAMPLES, SAMPLE_RATE, AudioSourceError
from carvoice.audio.devices import find_device, open_pyaudio


class MicrophoneSource:
    realtime = True

    def __init__(self, device: str | int | None = None, frame_samples: int = FRAME_SAMPLES) -> None:
        import pyaudio

        self.frame_samples = frame_samples
        self._closed = False
        self._pyaudio = open_pyaudio()
        try:
            self.device_index = find_device(self._pyaudio, device)
            info = self._pyaudio.get_device_info_by_index(self.device_index)
            self.description = f"microphone {self.device_index}: {info.get('name')}"
            self._stream = self._pyaudio.open(
                format=pyaudio.paInt16,
                channels=1,
                rate=SAMPLE_RATE,
                input=True,
                input_device_index=self.device_index,
                frames_per_buffer=frame_samples,
            )
        except (OSError, ValueError) as error:
            self._pyaudio.terminate()
            raise AudioSourceError(
                f"cannot open the microphone ({device or 'default'}) at 16 kHz mono: {error}"
            ) from error
        except AudioSourceError:
            self._pyaudio.terminate()
            raise

    def frames(self) -> Iterator[np.ndarray]:
        while True:
            try:
                data = self._stream.read(self.frame_samples, exception_on_overflow=False)
            except OSError as error:
                raise AudioSourceError(f"{self.description} stopped delivering audio: {error}") from error
            yield np.frombuffer(data, dtype=np.int16)

    def close(self) -> None:
        """Safe to call twice: after a failure the agent closes the source, and again on the way out."""
        if self._closed:
            return
        self._closed = True
        try:
            self._stream.stop_stream()
            self._stream.close()
        except OSError:
            pass  # the device is already gone
        finally:
            self._pyaudio.terminate()
