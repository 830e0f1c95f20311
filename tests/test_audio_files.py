"""Recordings through soundfile and soxr: what a real file holds is read, a header that lies is one line."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from carvoice.audio import SAMPLE_RATE, AudioSourceError
from carvoice.audio.wavfile import read_wav
from carvoice.cli import main
from tests.hostile import PeakMemory, wav_header

LIES = {
    "1 Hz": (wav_header(1), "the header says 1 Hz; carvoice reads 8-192 kHz"),
    "0 Hz": (wav_header(0), "not a WAV or FLAC file carvoice can read"),
    "2 Hz": (wav_header(2), "the header says 2 Hz"),
    "4 GHz": (wav_header(4_000_000_000), "not a WAV or FLAC file carvoice can read"),
    "400 kHz": (wav_header(400_000), "the header says 400000 Hz"),
    "no channels": (wav_header(16000, channels=0), "not a WAV or FLAC file carvoice can read"),
    "200 channels": (wav_header(16000, channels=200), "channels; carvoice reads 1-8"),
    "an MP3 inside a WAV": (wav_header(16000, fmt=0x55), "not a WAV or FLAC file carvoice can read"),
    "mu-law": (wav_header(8000, bits=8, fmt=7), "ULAW samples; carvoice reads integer and float PCM"),
    "not audio at all": (b"RIFF\x00\x00\x00\x00WAVEjunk" * 10, "not a WAV or FLAC file carvoice can read"),
}


@pytest.mark.parametrize("lie", LIES)
def test_a_lying_header_is_one_line_naming_the_file(tmp_path, capsys, lie):
    data, says = LIES[lie]
    path = tmp_path / "drive.wav"
    path.write_bytes(data)
    with PeakMemory() as memory, pytest.raises(AudioSourceError) as raised:
        read_wav(path)
    assert str(raised.value).startswith(f"{path}: ") and says in str(raised.value)
    assert "\n" not in str(raised.value) and memory.bytes < 20 * 2**20, memory
    assert main(["run", "--audio", str(path), "--no-speech"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err


def tone(rate: int, channels: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return np.repeat((0.5 * np.sin(2 * np.pi * 440 * t))[:, None], channels, axis=1)


@pytest.mark.parametrize(
    ("rate", "channels", "subtype", "file_format"),
    [
        (8000, 1, "PCM_U8", "WAV"),
        (44100, 2, "PCM_24", "WAV"),
        (48000, 6, "FLOAT", "WAVEX"),
        (96000, 8, "PCM_32", "WAVEX"),
        (192000, 1, "DOUBLE", "WAV"),
        (22050, 2, "PCM_16", "FLAC"),
        (48000, 1, "PCM_24", "FLAC"),
    ],
)
def test_ordinary_recordings_are_read_whatever_their_rate_width_and_channels(
    tmp_path, rate, channels, subtype, file_format
):
    path = tmp_path / f"tone.{'flac' if file_format == 'FLAC' else 'wav'}"
    soundfile.write(str(path), tone(rate, channels), rate, subtype=subtype, format=file_format)
    samples = read_wav(path)
    assert abs(len(samples) - SAMPLE_RATE) <= 1
    level = np.sqrt(np.mean((samples[1000:-1000] / 32768.0) ** 2))
    assert level == pytest.approx(0.5 / np.sqrt(2), rel=0.02)  # a 440 Hz tone keeps its level through soxr
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(samples) - 440) < 2


def test_a_recording_plays_block_by_block_as_it_was_read_whole(tmp_path):
    """`carvoice run --audio` streams the file: the same samples as `read_wav`, in 30 ms frames,
    and a bad file fails when the source is made, before the agent starts."""
    from carvoice.audio import FRAME_SAMPLES
    from carvoice.audio.wavfile import FileSource

    rng = np.random.default_rng(3)
    stereo_48k = rng.normal(0, 0.1, (48000 * 9 + 123, 2)).astype(np.float32)  # several read blocks
    path = tmp_path / "drive.wav"
    soundfile.write(str(path), stereo_48k, 48000, subtype="PCM_24")
    frames = list(FileSource(path).frames())
    assert all(len(frame) == FRAME_SAMPLES for frame in frames[:-1]) and 0 < len(frames[-1]) <= FRAME_SAMPLES
    assert np.array_equal(np.concatenate(frames), read_wav(path))
    (tmp_path / "bad.wav").write_bytes(wav_header(1))
    with pytest.raises(AudioSourceError, match=r"bad\.wav: the header says 1 Hz"):
        FileSource(tmp_path / "bad.wav")


def test_a_16_khz_recording_is_read_sample_for_sample(tmp_path):
    """Nothing is resampled where nothing needs to be: the samples come back exactly as written,
    read whole or played block by block."""
    from carvoice.audio.wavfile import BLOCK_FRAMES, FileSource, write_wav

    samples = np.random.default_rng(5).integers(-32768, 32768, 2 * BLOCK_FRAMES + 77, dtype=np.int16)
    path = tmp_path / "drive.wav"
    write_wav(path, samples)
    assert np.array_equal(read_wav(path), samples)
    assert np.array_equal(np.concatenate(list(FileSource(path).frames())), samples)
