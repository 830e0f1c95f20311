"""microWakeWord: a small neural network per wake phrase, run on TensorFlow Lite's C library.

A model is a JSON file naming its `.tflite` beside it. The pymicro-wakeword wheel ships
`alexa`, `hey_jarvis`, `hey_mycroft` and `okay_nabu` with the library and the feature front
end (pymicro-features); an installer may bring their own model into the profile folder.

The network runs here on the library's C API directly rather than through the wheel's
Python wrapper: the model is read once and checked, and every restart of the spotter builds
a new interpreter from those same bytes in memory. The wrapper reads the file again on every
reset, and a file damaged meanwhile (a reload, a bundle install) would crash the process;
it also costs 2.6 MB more resident memory, which the head unit does not have to spare.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
from collections import deque
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from carvoice.audio import SAMPLE_RATE
from carvoice.errors import CarvoiceError

# One feature vector per 10 ms; the network looks at its stride of them (30 ms) at a time.
FEATURE_SAMPLES = SAMPLE_RATE // 100
# The averaged probability crosses the cutoff from 0.14 s before to 0.23 s after the phrase ends
# (okay_nabu, eight synthetic voices); the end is reported this much earlier, and what is left of
# the phrase is taken by the command grammar's lead-in (profile loader, _wake_tails). At 0.2 and
# 0.3 s more of the phrase reached the command decoder and a flite "turn on the light bar" was
# doubted against "turn off"; at 0 and 0.1 s it was not.
FIRING_LAG_SECONDS = 0.1
_QUANTISED = {3: np.uint8, 9: np.int8}  # TfLiteType -> numpy


class WakeModelError(CarvoiceError, ValueError):
    """A wake model that is missing, unreadable, or not a microWakeWord model."""


def _wheel() -> Path:
    """pymicro-wakeword's folder, found without importing its Python wrapper (see above)."""
    spec = importlib.util.find_spec("pymicro_wakeword")
    if spec is None or not spec.submodule_search_locations:
        raise WakeModelError("pymicro-wakeword is not installed (scripts/setup installs it)")
    return Path(next(iter(spec.submodule_search_locations)))


def models_dir() -> Path:
    return _wheel() / "models"


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
    _Network(model).close()  # everything that could crash the process is tried here, safely
    return model


@cache
def _library() -> Any:
    """The TensorFlow Lite C library shipped in the pymicro-wakeword wheel, with the calls used here."""
    found = sorted((_wheel() / "lib").glob("*tensorflowlite_c.*"))
    if not found:
        raise WakeModelError("pymicro-wakeword was installed without its TensorFlow Lite library")
    lib = ctypes.CDLL(str(found[0]))
    pointer, size, number = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int32

    class Quantisation(ctypes.Structure):
        _fields_ = (("scale", ctypes.c_float), ("zero_point", ctypes.c_int32))

    for name, arguments, result in (
        ("TfLiteModelCreate", [pointer, size], pointer),
        ("TfLiteModelDelete", [pointer], None),
        ("TfLiteInterpreterCreate", [pointer, pointer], pointer),
        ("TfLiteInterpreterDelete", [pointer], None),
        ("TfLiteInterpreterAllocateTensors", [pointer], number),
        ("TfLiteInterpreterInvoke", [pointer], number),
        ("TfLiteInterpreterGetInputTensorCount", [pointer], number),
        ("TfLiteInterpreterGetInputTensor", [pointer, number], pointer),
        ("TfLiteInterpreterGetOutputTensor", [pointer, number], pointer),
        ("TfLiteTensorType", [pointer], number),
        ("TfLiteTensorNumDims", [pointer], number),
        ("TfLiteTensorDim", [pointer, number], number),
        ("TfLiteTensorByteSize", [pointer], size),
        ("TfLiteTensorQuantizationParams", [pointer], Quantisation),
        ("TfLiteTensorCopyFromBuffer", [pointer, pointer, size], number),
        ("TfLiteTensorCopyToBuffer", [pointer, pointer, size], number),
    ):
        function = getattr(lib, name)
        function.argtypes, function.restype = arguments, result
    return lib


class _Network:
    """One streaming network: quantised feature frames in, a probability out. Its state (what it
    has heard) lives in the interpreter, so forgetting means building a new interpreter."""

    def __init__(self, model: MicroModel) -> None:
        lib = self._lib = _library()
        self._buffer = ctypes.create_string_buffer(model.network, len(model.network))  # outlives the model
        self._model = lib.TfLiteModelCreate(self._buffer, len(model.network))
        self._interpreter = None
        if not self._model:
            raise WakeModelError(f"{model.tflite.name} is not a TensorFlow Lite model (damaged or wrong file)")
        try:
            self.reset()
        except WakeModelError:
            self.close()
            raise
        shape = [lib.TfLiteTensorDim(self._input, i) for i in range(lib.TfLiteTensorNumDims(self._input))]
        input_type, output_type = lib.TfLiteTensorType(self._input), lib.TfLiteTensorType(self._output)
        if len(shape) != 3 or shape[0] != 1 or input_type not in _QUANTISED or output_type not in _QUANTISED:
            self.close()
            raise WakeModelError(f"{model.tflite.name} is not a microWakeWord network (input {shape})")
        self.stride, self.features = shape[1], shape[2]
        self._in_type, self._out_type = _QUANTISED[input_type], _QUANTISED[output_type]
        self._in_q = lib.TfLiteTensorQuantizationParams(self._input)
        self._out_q = lib.TfLiteTensorQuantizationParams(self._output)
        outputs = lib.TfLiteTensorByteSize(self._output) // np.dtype(self._out_type).itemsize
        self._out = np.zeros(outputs, self._out_type)

    def reset(self) -> None:
        lib = self._lib
        if self._interpreter:
            lib.TfLiteInterpreterDelete(self._interpreter)
        self._interpreter = lib.TfLiteInterpreterCreate(self._model, None)
        if not self._interpreter or lib.TfLiteInterpreterAllocateTensors(self._interpreter) != 0:
            raise WakeModelError("TensorFlow Lite cannot run this model")
        if lib.TfLiteInterpreterGetInputTensorCount(self._interpreter) != 1:
            raise WakeModelError("not a microWakeWord network (it takes more than one input)")
        self._input = lib.TfLiteInterpreterGetInputTensor(self._interpreter, 0)
        self._output = lib.TfLiteInterpreterGetOutputTensor(self._interpreter, 0)

    def probability(self, frames: np.ndarray) -> float:
        """`frames`: stride x features feature values, as the front end gives them."""
        info = np.iinfo(self._in_type)
        quantised = np.clip(np.round(frames / self._in_q.scale + self._in_q.zero_point), info.min, info.max)
        data = np.ascontiguousarray(quantised, dtype=self._in_type)
        self._lib.TfLiteTensorCopyFromBuffer(self._input, data.ctypes.data, data.nbytes)
        self._lib.TfLiteInterpreterInvoke(self._interpreter)
        self._lib.TfLiteTensorCopyToBuffer(self._output, self._out.ctypes.data, self._out.nbytes)
        return float((int(self._out[0]) - self._out_q.zero_point) * self._out_q.scale)

    def close(self) -> None:
        if self._interpreter:
            self._lib.TfLiteInterpreterDelete(self._interpreter)
            self._interpreter = None
        if self._model:
            self._lib.TfLiteModelDelete(self._model)
            self._model = None


class MicroSpotter:
    """Streams audio through a microWakeWord model; reports where each spotted phrase ended.

    `feed` is the daemon's (first hit, then the agent listens for a command and restarts
    the spotter); `probabilities` hands out every averaged probability, for an evaluation
    that scores every cutoff in one pass.
    """

    def __init__(self, model: MicroModel, cutoff: float | None = None) -> None:
        self.model = model
        self.cutoff = model.cutoff if cutoff is None else cutoff
        self._network = _Network(model)
        self.restart(0)

    def restart(self, position: int) -> None:
        """Listen afresh from `position` (absolute samples), forgetting earlier audio."""
        from pymicro_features import MicroFrontend

        self._network.reset()
        self._frontend = MicroFrontend()
        self._frames: list[list[float]] = []
        self._recent: deque[float] = deque(maxlen=self.model.window)
        self._position = position
        self._pending = np.zeros(0, dtype=np.int16)  # samples not yet handed to the front end

    def probabilities(self, frame: np.ndarray) -> list[tuple[int, float]]:
        """(absolute sample, averaged probability) for each step of the network this frame completed."""
        audio = np.concatenate([self._pending, np.asarray(frame, dtype=np.int16)])
        start = self._position - len(self._pending)
        self._position += len(frame)
        found = []
        used = 0
        while used + FEATURE_SAMPLES <= len(audio):
            result = self._frontend.process_samples(audio[used : used + FEATURE_SAMPLES].tobytes())
            used += result.samples_read or FEATURE_SAMPLES
            if not result.features:
                continue
            self._frames.append(result.features)
            if len(self._frames) < self._network.stride:
                continue
            self._recent.append(self._network.probability(np.array(self._frames, dtype=np.float32)))
            self._frames = []
            if len(self._recent) == self._recent.maxlen:
                found.append((start + used, sum(self._recent) / len(self._recent)))
        self._pending = audio[used:]
        return found

    def feed(self, frame: np.ndarray) -> int | None:
        """The absolute sample where the wake phrase ended, when this frame completes one."""
        for at, probability in self.probabilities(frame):
            if probability > self.cutoff:
                return max(0, at - round(FIRING_LAG_SECONDS * SAMPLE_RATE))
        return None

    def __del__(self) -> None:
        self._network.close()
