"""Wake-word evaluation: counting on hand-made detections, and a real pass through the detector."""

import json
import struct

import numpy as np
import pytest

from carvoice.audio import SAMPLE_RATE
from carvoice.audio.synth import utterance
from carvoice.audio.wavfile import write_wav
from carvoice.cli import main
from carvoice.evaluation.wake import half_of
from carvoice.evaluation.wake_scores import WakeRun, score, wake_metrics
from tests.conftest import needs

S = SAMPLE_RATE


def run_of(detections, positives=((0, 2 * S), (4 * S, 6 * S)), total=36 * S):
    return WakeRun("pocketsphinx", "hey copilot", 1e-30, list(positives), total, detections, cpu_seconds=1.8)


def test_hits_within_the_clip_or_half_a_second_after_and_everything_else_is_a_false_alarm():
    run = run_of(
        {
            1e-30: [S, S + 100, int(6.5 * S), int(6.5 * S) + 1, 20 * S],  # hit, same clip again, hit at +0.5 s, 2 FAs
            1e-10: [int(2.5 * S) + 1, 30 * S],  # just too late for clip 1: a false alarm; another
            1e10: [],
        }
    )
    low = score(run, 1e-30)
    assert (low.positives, low.hits, low.false_alarms) == (2, 2, 2)
    # Negative audio: 36 s minus the two clips and their 0.5 s tolerance = 31 s.
    assert low.negative_hours == pytest.approx(31 / 3600)
    assert low.miss_rate == 0.0 and low.false_alarms_per_hour == round(2 / (31 / 3600), 4)
    mid = score(run, 1e-10)
    assert (mid.hits, mid.false_alarms, mid.miss_rate) == (0, 2, 1.0)
    metrics = wake_metrics([run])
    assert metrics["n"] == 2 and metrics["threshold"] == 1e-30 and metrics["false_alarms"] == 2
    assert metrics["rtf"] == pytest.approx(1.8 / 36)
    assert [row["miss_rate"] for row in metrics["sweep"]] == [0.0, 1.0, 1.0]
    # Only 1e10 stays under 0.5 false alarms per hour, and it misses both clips.
    assert metrics["miss_rate_at_0.5_fa_per_hour"] == 1.0 and metrics["threshold_at_0.5_fa_per_hour"] == 1e10


def test_phrases_pool_by_summing_hits_alarms_and_hours():
    first = run_of({1e-30: [S]})  # 1 of 2 hit, no false alarm
    second = run_of({1e-30: [S, int(4.2 * S), 10 * S]}, total=72 * S)  # 2 of 2, one false alarm
    metrics = wake_metrics([first, second])
    assert metrics["miss_rate"] == 0.25
    assert metrics["negative_hours"] == round((31 + 67) / 3600, 4)
    assert metrics["false_alarms_per_hour"] == round(1 / ((31 + 67) / 3600), 4)


def wake_set(tmp_path, phrase):
    """Three clips of the phrase, two of talk, and a folder of extra talk."""
    lines = []
    for index, voice in enumerate(("slt", "rms", "awb")):
        write_wav(tmp_path / f"w{index}.wav", utterance(phrase, f"flite:{voice}", seed=index))
        lines.append({"audio": f"w{index}.wav", "wake": phrase})
    for index, text in enumerate(("the weather is lovely today", "please pass the salt")):
        write_wav(tmp_path / f"n{index}.wav", utterance(text, "flite:slt", seed=10 + index))
        lines.append({"audio": f"n{index}.wav", "wake": None})
    (tmp_path / "more").mkdir()
    write_wav(tmp_path / "more" / "talk.wav", utterance("a cup of tea and a biscuit", "flite:kal16", seed=20))
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return ["eval", str(tmp_path / "m.jsonl"), "--negatives", str(tmp_path / "more")]


def is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", path.read_bytes()[16:24])[0] > 100


@needs("flite")
def test_wake_set_runs_through_the_detector_with_a_sweep(tmp_path, capsys):
    det = tmp_path / "det.png"
    args = [*wake_set(tmp_path, "hey copilot"), "--engines", "pocketsphinx", "--sweep", "--det", str(det)]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["engine"] == "pocketsphinx"
    assert summary["n"] == 3 and summary["miss_rate"] == 0.0 and summary["command_accuracy"] is None
    # All audio but the three clips (and their tolerance) is negative: two talk clips, one extra, four gaps.
    assert 0 < summary["negative_hours"] * 3600 < 20
    first_stage = summary["engines"]["pocketsphinx, no check"]["sweep"]
    misses = [row["miss_rate"] for row in first_stage]
    alarms = [row["false_alarms_per_hour"] for row in first_stage]
    assert misses == sorted(misses) and alarms == sorted(alarms, reverse=True)  # stricter: fewer hits and alarms
    assert misses[-1] > 0  # the strictest threshold misses something: the thresholds really differ
    # The second stage only ever takes detections away, and it took the talk's away.
    for checked, unchecked in zip(summary["sweep"], first_stage, strict=True):
        assert checked["false_alarms"] <= unchecked["false_alarms"] and checked["miss_rate"] >= unchecked["miss_rate"]
    assert sum(row["false_alarms"] for row in summary["sweep"]) < sum(row["false_alarms"] for row in first_stage)
    assert is_png(det)


@needs("flite")
def test_both_engines_hear_the_same_stream(tmp_path, capsys):
    """The demo car's phrase has a neural model: both engines run on it, each with its own sweep."""
    det = tmp_path / "det.png"
    args = [*wake_set(tmp_path, "okay nabu"), "--engines", "micro,pocketsphinx", "--sweep", "--det", str(det)]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    micro, keyphrase = summary["engines"]["micro"], summary["engines"]["pocketsphinx"]
    assert summary["engine"] == "micro" and summary["threshold"] == micro["threshold"] == 0.8
    assert micro["n"] == keyphrase["n"] == 3
    assert micro["negative_hours"] == keyphrase["negative_hours"]  # the same audio
    assert micro["miss_rate"] == 0.0 and micro["false_alarms"] == 0
    assert [row["threshold"] for row in micro["sweep"]][-1] == 0.995  # probabilities, not keyphrase ratios
    assert keyphrase["sweep"][0]["threshold"] == 1e-20
    assert is_png(det)


def test_the_halves_are_fixed_by_the_file_name_and_split_about_evenly(shared_data):
    clips = sorted((shared_data / "wake").rglob("*.wav"))
    halves = [half_of(path) for path in clips]
    assert halves == [half_of(shared_data / "elsewhere" / path.name) for path in clips]
    assert 0.4 < halves.count("tune") / len(halves) < 0.6


def test_a_wake_clip_that_cannot_be_read_fails_the_evaluation(tmp_path, capsys):
    """An unreadable clip is left out of the stream and out of every rate, and the run exits 1 naming
    it: a wake set moved away from its audio must not pass for one without false alarms."""
    write_wav(tmp_path / "quiet.wav", np.zeros(SAMPLE_RATE, dtype=np.int16))
    lines = ['{"audio": "quiet.wav", "wake": null}', '{"audio": "gone.wav", "wake": "okay nabu"}']
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["eval", str(tmp_path / "m.jsonl"), "--engines", "micro", "--jobs", "1"]) == 1
    out, err = capsys.readouterr()
    summary = json.loads(out.splitlines()[-1])
    assert summary["errors"] == 1 and summary["n"] == 0 and summary["miss_rate"] is None  # no phrase was heard
    assert "1 of 2 recordings could not be evaluated" in err and str(tmp_path / "gone.wav") in err
