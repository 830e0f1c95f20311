"""carvoice eval MANIFEST: accuracy of a profile on labelled recordings, as the daemon hears them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from carvoice.audio.frontend import FrontEnd
from carvoice.audio.noise import CABIN, NoiseCondition
from carvoice.cli._common import add_profile_option, load_or_report, profile_dir
from carvoice.evaluation.commands import NOT_ASKED_AGAIN, Outcome, evaluate
from carvoice.evaluation.manifest import Item, ManifestError, read_manifest
from carvoice.evaluation.metrics import COMMAND_KEYS, command_metrics, is_right
from carvoice.evaluation.wake import HALVES, evaluate_wake, half_of, negative_files
from carvoice.evaluation.wake_scores import plot_det, wake_metrics
from carvoice.profile.model import WAKE_ENGINES
from carvoice.recognise.command import Calibration, Recognition


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="measure a profile on labelled recordings")
    parser.add_argument("manifest", metavar="MANIFEST.jsonl")
    add_profile_option(parser)
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (default: one per core)")
    parser.add_argument("--table", action="store_true", help="print one line per recording")
    parser.add_argument("--noise", metavar="FILE.wav|cabin", help="add this noise (a WAV, or the synthetic cabin)")
    parser.add_argument(
        "--snr",
        type=float,
        default=12.0,
        metavar="DB",
        help="SNR of the added noise in the speech band, 100-4000 Hz (default 12)",
    )
    parser.add_argument(
        "--noise-part",
        type=int,
        choices=(1, 2),
        help="only the first or second half of the noise: tune with one, report with the other",
    )
    parser.add_argument("--seed", type=int, default=0, help="where in the noise each recording starts (default 0)")
    parser.add_argument(
        "--negatives", metavar="FILE_OR_DIR", help="wake sets: more audio without the phrase (a WAV or a folder)"
    )
    parser.add_argument("--sweep", action="store_true", help="wake sets: every threshold in one pass, and a DET plot")
    parser.add_argument(
        "--det", metavar="PNG", default="wake-det.png", help="where --sweep draws (default %(default)s)"
    )
    parser.add_argument(
        "--engines",
        metavar="NAME,...",
        help=f"wake sets: the engines to compare on the same audio ({', '.join(WAKE_ENGINES)}; default the profile's)",
    )
    parser.add_argument("--phrases", metavar="PHRASE,...", help="wake sets: only these phrases are the targets")
    parser.add_argument(
        "--split",
        choices=HALVES,
        help="only the recordings (and wake negatives) whose file name hashes into this half",
    )
    parser.add_argument(
        "--calibration",
        metavar="FILE.json",
        help="judge with these tuned constants instead of the shipped ones (from scripts/calibrate)",
    )
    parser.add_argument(
        "--front-end",
        metavar="speex:DB[:GAIN]|webrtc:LEVEL[:DBFS]",
        help="commands: pass the audio (after any noise) through this suppressor first (README, Front ends tried)",
    )
    parser.add_argument(
        "--decoder",
        metavar="KEY=VALUE,...",
        help="commands: these PocketSphinx options over the shipped ones (remove_noise=no,fillprob=1e-4)",
    )
    parser.add_argument(
        "--answer",
        action="store_true",
        help="commands: a question about a command heard unsure is answered after the recording, as its speaker"
        " would, in the same synthetic voice and noise (yes if it asks about the labelled command, no otherwise;"
        " needs the voice and speed that scripts/make-eval-set writes)",
    )
    parser.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N manifest lines")
    parser.add_argument("--stride", type=int, default=1, metavar="K", help="only every K-th line (a spread subset)")
    parser.add_argument(
        "--half",
        type=int,
        choices=(1, 2),
        help="only the odd (1) or even (2) lines: tune on one half of a set, report on the other",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = profile_dir(args.profile)
    if load_or_report(path) is None:
        return 2
    try:
        items = read_manifest(args.manifest)
    except ManifestError as error:
        print(f"carvoice eval: {error}", file=sys.stderr)
        return 2
    if args.half:
        items = items[args.half - 1 :: 2]
    items = items[:: max(1, args.stride)]
    if args.split:
        items = [item for item in items if half_of(item.audio) == args.split]
    if args.limit:
        items = items[: args.limit]
    condition = NoiseCondition(args.noise, args.snr, args.seed, args.noise_part or 0)
    if args.noise and args.noise != CABIN and not Path(args.noise).is_file():
        print(f"carvoice eval: no such noise file: {args.noise}", file=sys.stderr)
        return 2
    progress = _progress if sys.stderr.isatty() else None
    voiceless = next((item for item in items if not item.voice), None)
    if args.answer and voiceless is not None:
        print(
            f"carvoice eval: --answer needs every line's synthetic voice and speed (scripts/make-eval-set writes"
            f" them): {voiceless.audio.name} has no voice",
            file=sys.stderr,
        )
        return 2
    if items and all(item.is_wake_item for item in items):
        return _run_wake(args, path, items, condition, progress)
    try:
        calibration = Calibration.load(args.calibration) if args.calibration else None
    except (OSError, ValueError, TypeError) as error:
        print(f"carvoice eval: {args.calibration}: {error}", file=sys.stderr)
        return 2
    try:
        front_end = FrontEnd.parse(args.front_end) if args.front_end else None
        decoder = decoder_settings(args.decoder) if args.decoder else None
    except ValueError as error:
        print(f"carvoice eval: {error}", file=sys.stderr)
        return 2
    outcomes = evaluate(path, items, args.jobs, progress, condition, calibration, front_end, decoder, args.answer)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if args.table:
        for outcome in outcomes:
            item = outcome.item
            if outcome.error:
                print(f"ERROR {item.audio.name} {item.group}  {outcome.error}")
                continue
            verdict = "ASKED" if outcome.asked and not outcome.intents else "ok" if is_right(outcome) else "WRONG"
            got = "; ".join(f"{i} {s}" for i, s in outcome.intents + outcome.asked)
            got = got or f"rejected: {'; '.join(outcome.rejections)}"
            print(
                f"{verdict:5} {item.audio.name} {item.group}  want {item.intent} {item.slots}  got {got}  "
                f'heard "{outcome.heard}" ({outcome.confidence:.2f}){_silence_and_lead_in(outcome.recognition)}'
                f"{_answered(outcome)}"
            )
    print(json.dumps(command_metrics(outcomes, answered=args.answer)))
    return _failed([outcome.error for outcome in outcomes if outcome.error], len(outcomes))


def _failed(errors: list[str], recordings: int) -> int:
    """The exit status: 1 when recordings could not be read, naming the first (each error names its
    file), so that a manifest moved away from its audio does not pass for a clean result."""
    if not errors:
        return 0
    print(
        f"carvoice eval: {len(errors)} of {recordings} recordings could not be evaluated and count in no rate;"
        f" the first: {errors[0]}",
        file=sys.stderr,
    )
    return 1


def _answered(outcome: Outcome) -> str:
    """How its speaker answered the question (--answer), and what the agent took the answer for."""
    if outcome.answer_heard == NOT_ASKED_AGAIN:
        return f"  {NOT_ASKED_AGAIN}: unanswered"
    return f"  answered {outcome.answer}: heard {outcome.answer_heard}" if outcome.answer else ""


def _silence_and_lead_in(heard: Recognition | None) -> str:
    """What the two checks of README, "Words the grammar laid silence over", measured on the last
    command decoded, so that their constants can be set again from a table: the longest loud run
    under the path's silences and what the path took for the wake phrase's end, in frames."""
    if heard is None:
        return ""
    run = f"  loud under silence {heard.unheard[1] if heard.unheard else 0} fr"
    return run + (f"  lead-in {heard.lead_in[1]} fr at {heard.lead_in[0] / 100:.2f} s" if heard.lead_in else "")


def decoder_settings(text: str) -> dict[str, str | float | bool]:
    """`KEY=VALUE,...` as PocketSphinx options: yes/no as booleans, numbers as numbers."""
    import pocketsphinx

    known = pocketsphinx.Config()
    settings: dict[str, str | float | bool] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, equals, value = pair.partition("=")
        try:
            known[key]
        except KeyError:
            raise ValueError(f"--decoder: PocketSphinx has no option {key!r}") from None
        if not equals:
            raise ValueError(f"--decoder: {pair!r} is not KEY=VALUE")
        if value in ("yes", "no"):
            settings[key] = value == "yes"
        else:
            try:
                settings[key] = float(value)
            except ValueError:
                settings[key] = value
    return settings


def _run_wake(args: argparse.Namespace, path: Path, items: list[Item], condition: NoiseCondition, progress: Any) -> int:
    negatives = negative_files(args.negatives)
    if args.split:
        negatives = [n for n in negatives if half_of(n) == args.split]
    engines = tuple(args.engines.split(",")) if args.engines else None
    unknown = set(engines or ()) - set(WAKE_ENGINES)
    if unknown:
        known = ", ".join(WAKE_ENGINES)
        print(f"carvoice eval: unknown engine {', '.join(sorted(unknown))} (known: {known})", file=sys.stderr)
        return 2
    phrases = tuple(p.strip() for p in args.phrases.split(",")) if args.phrases else None
    try:
        runs = evaluate_wake(
            path, items, condition, negatives, args.sweep, args.jobs, progress, engines=engines, phrases=phrases
        )
    except ValueError as error:
        print(f"carvoice eval: {error}", file=sys.stderr)
        return 2
    if progress is not None:
        print(file=sys.stderr)
    metrics = wake_metrics(runs)
    if args.sweep:
        try:
            plot_det(runs, args.det)
            metrics["det_plot"] = str(args.det)
        except RuntimeError as error:
            print(f"carvoice eval: {error}", file=sys.stderr)
    if args.table:
        for engine, figures in metrics["engines"].items():
            for row in figures.get("sweep", []):
                miss, alarms = row["miss_rate"], row["false_alarms_per_hour"]
                print(f"{engine:12} threshold {row['threshold']:8.3g}  miss rate {miss}  false alarms/h {alarms}")
    summary = dict.fromkeys(COMMAND_KEYS) | metrics
    print(json.dumps(summary))
    return _failed(runs[0].errors if runs else [], len(items) + len(negatives))  # every engine reads the same files


def _progress(done: int, total: int) -> None:
    width = 40
    filled = width * done // total
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr, flush=True)
