"""carvoice bundle build|install|rollback|list: profile versions as single files, installed safely."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from carvoice.bundle import BundleError
from carvoice.bundle.install import build, install, rollback
from carvoice.bundle.unit import Unit


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bundle", help="build, install, roll back and list profile bundles")
    commands = parser.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)

    make = commands.add_parser("build", help="pack a profile folder into one (optionally signed) bundle file")
    make.add_argument("profile", metavar="PROFILE", help="profile folder")
    make.add_argument("-o", "--output", required=True, metavar="FILE", help="bundle file to write")
    make.add_argument("--version", help="version of this profile (default: the build time, e.g. 20260127.142501)")
    make.add_argument("--sign", metavar="KEY", help="sign with this SSH key (private key, or public key in ssh-agent)")
    make.set_defaults(func=_build)

    put = commands.add_parser("install", help="verify a bundle, install it and switch to it; roll back if it fails")
    put.add_argument("bundle", metavar="FILE", help="bundle file")
    put.add_argument(
        "--allowed-signers",
        metavar="FILE",
        help="keys to accept (default: ROOT/etc/carvoice/allowed_signers; without one, nothing is installed "
        "unless --allow-unsigned)",
    )
    put.add_argument(
        "--allow-unsigned",
        action="store_true",
        help="on a workbench unit with no allowed_signers: install without checking who made the bundle",
    )
    put.add_argument(
        "--allow-downgrade",
        action="store_true",
        help="install a version older than the active one, on purpose (the unit refuses it otherwise)",
    )
    put.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the daemon to confirm")
    put.add_argument(
        "--keep",
        type=int,
        default=5,
        metavar="N",
        help="versions to keep on the unit, the active and the previous one included (default 5)",
    )
    _add_unit_options(put)
    put.set_defaults(func=_install)

    back = commands.add_parser("rollback", help="make the previous profile active again")
    back.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the daemon to confirm")
    _add_unit_options(back)
    back.set_defaults(func=_rollback)

    show = commands.add_parser("list", help="installed profile versions; * active, - previous")
    _add_unit_options(show)
    show.set_defaults(func=_list)


def _add_unit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", metavar="DIR", help="the unit's root folder (default: $CARVOICE_ROOT, else /)")
    parser.add_argument(
        "--runtime-dir",
        metavar="DIR",
        help="the daemon's status.json folder (default: $CARVOICE_RUNTIME_DIR, else ROOT/run/carvoice)",
    )


def _unit(args: argparse.Namespace) -> Unit:
    return Unit(Path(args.root) if args.root else None, Path(args.runtime_dir) if args.runtime_dir else None)


def _say(message: str) -> None:
    print(f"carvoice bundle: {message}", flush=True)


def _report(error: BundleError | OSError) -> int:
    print(f"carvoice bundle: {error}", file=sys.stderr)
    return 1


def _build(args: argparse.Namespace) -> int:
    try:
        manifest = build(Path(args.profile), Path(args.output), args.version, Path(args.sign) if args.sign else None)
    except (BundleError, OSError) as error:  # OSError: e.g. not root on the unit
        return _report(error)
    signed = f", signed with {args.sign}" if args.sign else ", unsigned"
    _say(f"{args.output}: {manifest.name} {manifest.version}, {len(manifest.files)} files{signed}")
    return 0


def _install(args: argparse.Namespace) -> int:
    signers = Path(args.allowed_signers) if args.allowed_signers else None
    try:
        folder = install(
            Path(args.bundle),
            _unit(args),
            signers,
            args.timeout,
            _say,
            args.keep,
            allow_unsigned=args.allow_unsigned,
            allow_downgrade=args.allow_downgrade,
        )
    except (BundleError, OSError) as error:  # OSError: e.g. not root on the unit
        return _report(error)
    _say(f"installed: {folder.name}")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    try:
        folder = rollback(_unit(args), args.timeout, _say)
    except (BundleError, OSError) as error:  # OSError: e.g. not root on the unit
        return _report(error)
    _say(f"rolled back to {folder.name}")
    return 0


def _list(args: argparse.Namespace) -> int:
    unit = _unit(args)
    try:
        installed = unit.installed()
    except (BundleError, OSError) as error:  # OSError: e.g. not root on the unit
        return _report(error)
    if not installed:
        print(f"no profile installed in {unit.profiles}")
        return 0
    for entry in installed:
        mark = "*" if entry.active else "-" if entry.previous else " "
        if entry.manifest is None:
            print(f"{mark} {entry.folder.name}  (no readable manifest.json)")
            continue
        signed = "signed" if entry.signed else "unsigned"
        print(
            f"{mark} {entry.folder.name}  {entry.manifest.name} {entry.manifest.version}  "
            f"built {entry.manifest.created}  {signed}"
        )
    return 0
