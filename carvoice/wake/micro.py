"""microWakeWord: a small neural network per wake phrase (pymicro-wakeword, TensorFlow Lite).

A model is a JSON file naming its `.tflite` beside it. The package ships `alexa`,
`hey_jarvis`, `hey_mycroft` and `okay_nabu`; an installer may bring their own into the
profile folder. The TensorFlow Lite library crashes the process on a model it could not
load, so every model is opened and checked here before anything else touches it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from carvoice.audio import SAMPLE_RATE

# One feature vector per 10 ms; the network looks at its stride of them (30 ms) at a time.
FEATURE_SAMPLES = SAMPLE_RATE // 100
# The averaged probability crosses the cutoff from 0.14 s before to 0.23 s after the phrase ends
# (okay_nabu, eight synthetic voices); the end is reported this much earlier, and what is left of
# the phrase is taken by the command grammar's lead-in (profile loader, _wake_tails). At 0.2 and
# 0.3 s more of the phrase reached the command decoder and a flite "turn on the light bar" was
# doubted against "turn off"; at 0 and 0.1 s it was not.
FIRING_LAG_SECONDS = 0.1


class WakeModelError(ValueError):
    """A wake model that is missing, unreadable, or not a microWakeWord model."""


def models_dir() -> Path:
    import pymicro_wakeword

    return Path(pymicro_wakeword.__file__).parent / "models"


def builtin_models() -> list[str]:
    return sorted(p.stem for p in models_dir().glob("*.json"))


@dataclass(frozen=True)
class MicroModel:
    config: Path  # the model's JSON
    tflite: Path
    wake_word: str
    cutoff: float  # the model author's probability cutoff
    window: int  # probabilities averaged
    network: bytes = field(default=b"", repr=False)  # the .tflite as read and checked


def find_model(spec: str, root: Path) -> Path:
    """`spec` is a shipped model's name (`okay_nabu`) or a JSON path inside the profile folder `root`."""
    if spec in builtin_models():
        return models_dir() / f"{spec}.json"
    path = (root / spec).resolve()
    if not path.is_relative_to(root.resolve()):
        raise WakeModelError(f"{spec!r} must be a file inside the profile folder (or one of {builtin_models()})")
    if path.suffix != ".json":
        raise WakeModelError(f"{spec!r}: name a shipped model ({', '.join(builtin_models())}) or a model's .json")
    return path


def load_model(config: Path) -> MicroModel:
    """Read and check a model; raises WakeModelError saying what is wrong with it."""
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WakeModelError(f"no such file: {config}") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise WakeModelError(f"{config.name} is not a readable JSON file: {error}") from None
    try:
        micro = data["micro"]
        tflite = (config.parent / data["model"]).resolve()
        cutoff, window = float(micro["probability_cutoff"]), int(micro["sliding_window_size"])
        model = MicroModel(config, tflite, str(data["wake_word"]), cutoff, window)
    except (KeyError, TypeError, ValueError) as error:
        raise WakeModelError(f"{config.name} is not a microWakeWord model description ({error!r})") from None
    if not tflite.is_relative_to(config.parent.resolve()):
        raise WakeModelError(f"{config.name}: its model file must sit beside it, not at {data['model']!r}")
    try:
        network = tflite.read_bytes()
    except FileNotFoundError:
        raise WakeModelError(f"{config.name} names {data['model']!r}, which does not exist") from None
    except OSError as error:
        raise WakeModelError(f"cannot read {tflite.name}: {error}") from None
    model = replace(model, network=network)
    copy = _private_copy(network)
    try:
        _check_network(copy, tflite.name)
    finally:
        copy.unlink()
    return model


def _private_copy(network: bytes) -> Path:
    """The network in a file of our own. TensorFlow Lite maps the file and reads it again on every
    restart of the spotter: the installer's file may be replaced or damaged meanwhile (a reload,
    a bundle install), and a damaged network crashes the process rather than raising."""
    handle, name = tempfile.mkstemp(prefix="carvoice-wake-", suffix=".tflite")
    with os.fdopen(handle, "wb") as file:
        file.write(network)
    return Path(name)


def _library() -> Path:
    import pymicro_wakeword

    found = sorted((Path(pymicro_wakeword.__file__).parent / "lib").glob("*tensorflowlite_c.*"))
    if not found:
        raise WakeModelError("pymicro-wakeword was installed without its TensorFlow Lite library")
    return found[0]


def _check_network(path: Path, name: str) -> None:
    """Open the network the way the engine will, but stop at the first thing that would crash it."""
    from pymicro_wakeword.wakeword import TfLiteWakeWord

    lib = TfLiteWakeWord(_library()).lib
    handle = lib.TfLiteModelCreateFromFile(str(path).encode())
    if not handle:
        raise WakeModelError(f"{name} is not a TensorFlow Lite model (damaged or wrong file)")
    interpreter = lib.TfLiteInterpreterCreate(handle, None)
    try:
        if not interpreter or lib.TfLiteInterpreterAllocateTensors(interpreter) != 0:
            raise WakeModelError(f"{name}: TensorFlow Lite cannot run this model")
        tensor = lib.TfLiteInterpreterGetInputTensor(interpreter, 0)
        shape = [lib.TfLiteTensorDim(tensor, i) for i in range(lib.TfLiteTensorNumDims(tensor))]
        if len(shape) != 3 or shape[0] != 1 or lib.TfLiteTensorType(tensor) not in (3, 9):  # uint8, int8
            raise WakeModelError(f"{name} is not a microWakeWord network (input {shape})")
    finally:
        if interpreter:
            lib.TfLiteInterpreterDelete(interpreter)
        lib.TfLiteModelDelete(handle)


class MicroSpotter:
    """Streams audio through a microWakeWord model; reports where each spotted phrase ended.

    `feed` is the daemon's (first hit, then the agent listens for a command and restarts
    the spotter); `probabilities` hands out every averaged probability, for an evaluation
    that scores every cutoff in one pass.
    """

    def __init__(self, model: MicroModel, cutoff: float | None = None) -> None:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

        self.model = model
        self.cutoff = model.cutoff if cutoff is None else cutoff
        self._copy = _private_copy(model.network)
        self._network = MicroWakeWord(
            model.config.stem,
            wake_word=model.wake_word,
            tflite_model=self._copy,
            probability_cutoff=self.cutoff,
            sliding_window_size=model.window,
            trained_languages=[],
            libtensorflowlite_c_path=_library(),
        )
        self._features = MicroWakeWordFeatures()
        self._position = 0  # absolute sample after the last fed frame
        self._pending = np.zeros(0, dtype=np.int16)  # samples not yet turned into features

    def restart(self, position: int) -> None:
        """Listen afresh from `position` (absolute samples), forgetting earlier audio."""
        self._network.reset()
        self._features.reset()
        self._position = position
        self._pending = np.zeros(0, dtype=np.int16)

    def probabilities(self, frame: np.ndarray) -> list[tuple[int, float]]:
        """(absolute sample, averaged probability) for each step of the network this frame completed."""
        audio = np.concatenate([self._pending, np.asarray(frame, dtype=np.int16)])
        whole = len(audio) - len(audio) % FEATURE_SAMPLES
        start = self._position - len(self._pending)
        self._pending = audio[whole:]
        self._position += len(frame)
        features = list(self._features.process_streaming(audio[:whole].tobytes()))
        found = []
        for index, vector in enumerate(features):  # the last vector ends where the whole chunks end
            probability = self._network.process_streaming_prob(vector)
            if probability:
                found.append((start + whole - (len(features) - 1 - index) * FEATURE_SAMPLES, probability))
        return found

    def feed(self, frame: np.ndarray) -> int | None:
        """The absolute sample where the wake phrase ended, when this frame completes one."""
        for at, probability in self.probabilities(frame):
            if probability > self.cutoff:
                return max(0, at - round(FIRING_LAG_SECONDS * SAMPLE_RATE))
        return None

    def __del__(self) -> None:
        self._network.close()
        self._copy.unlink(missing_ok=True)
