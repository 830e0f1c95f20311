"""carvoice flash BUNDLE HOST...: install one bundle on several head units over SSH, with a summary."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from carvoice.bundle import BundleError, archive
from carvoice.bundle.flash import Options, Result, flash


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("flash", help="install a bundle on head units over SSH, in parallel")
    parser.add_argument("bundle", metavar="BUNDLE", help="bundle file (carvoice bundle build)")
    parser.add_argument("hosts", nargs="+", metavar="HOST", help="units as ssh knows them (user@host, ~/.ssh/config)")
    parser.add_argument("-F", "--ssh-config", metavar="FILE", help="ssh config file for ssh and scp")
    parser.add_argument(
        "-o",
        "--ssh-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="an ssh option for ssh and scp, e.g. -o Port=2222 (repeatable)",
    )
    parser.add_argument(
        "--carvoice",
        default="carvoice",
        metavar="COMMAND",
        help="carvoice on the units (default: carvoice on their PATH; e.g. 'sudo -n carvoice')",
    )
    parser.add_argument("--root", metavar="DIR", help="--root for the install on the units")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds each unit's daemon has to confirm the new profile"
    )
    parser.add_argument("-j", "--jobs", type=int, default=8, help="units at a time (default 8)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bundle = Path(args.bundle)
    try:
        # a broken file is refused here, not on every unit
        manifest = archive.read(archive.open_envelope(bundle)).manifest
    except BundleError as error:
        print(f"carvoice flash: {error}", file=sys.stderr)
        return 2
    common = [*(["-F", args.ssh_config] if args.ssh_config else []), *[f"-o{o}" for o in args.ssh_option]]
    install_args = [*(["--root", args.root] if args.root else []), "--timeout", f"{args.timeout:g}"]
    options = Options(("ssh", *common), ("scp", *common), args.carvoice, tuple(install_args))
    width = max(len(host) for host in args.hosts)
    print(f"flashing {manifest.name} {manifest.version} to {len(args.hosts)} unit(s)", flush=True)

    def progress(result: Result, line: str) -> None:
        print(f"[{result.host:<{width}}] {line}", flush=True)

    results = flash(bundle, args.hosts, options, progress, args.jobs)
    print("\nsummary:")
    for result in results:
        print(f"  {result.host:<{width}}  {result.state:<11}  {result.detail}")
    failed = [r.host for r in results if not r.ok]
    print(
        f"{len(results) - len(failed)} of {len(results)} installed"
        + (f"; not installed: {' '.join(shlex.quote(h) for h in failed)}" if failed else "")
    )
    return 1 if failed else 0
