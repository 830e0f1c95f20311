"""Signatures with OpenSSH (`ssh-keygen -Y`): installers already have SSH keys, and no crypto code of ours.

What is signed is the bundle's payload, byte for byte (carvoice.bundle.archive), so the signature is
checked before anything in the bundle is parsed; ssh-keygen reads the payload as a stream.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import BinaryIO

from carvoice.bundle import BundleError

NAMESPACE = "carvoice-bundle"  # a signature made for anything else (git commits, files) is not accepted


def _ssh_keygen() -> str:
    program = shutil.which("ssh-keygen")
    if program is None:
        raise BundleError("ssh-keygen is not installed (Debian package openssh-client); it signs and checks bundles")
    return program


def sign(data: bytes, key: Path) -> bytes:
    """Sign with a private key file (or a public key whose private half is in ssh-agent)."""
    with tempfile.TemporaryDirectory(prefix="carvoice-sign-") as scratch:
        message = Path(scratch) / "payload"
        message.write_bytes(data)
        done = subprocess.run(
            [_ssh_keygen(), "-Y", "sign", "-q", "-f", str(key), "-n", NAMESPACE, str(message)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise BundleError(f"{key}: cannot sign with this key: {done.stderr.strip()}")
        return (Path(scratch) / "payload.sig").read_bytes()


def verify(data: BinaryIO, signature: bytes, allowed_signers: Path, source: str) -> str:
    """The principal from allowed_signers whose key made the signature over the rest of `data` (an open
    file, read by ssh-keygen as its input), or BundleError."""
    with tempfile.TemporaryDirectory(prefix="carvoice-verify-") as scratch:
        signature_file = Path(scratch) / "payload.sig"
        signature_file.write_bytes(signature)
        found = subprocess.run(
            [_ssh_keygen(), "-Y", "find-principals", "-s", str(signature_file), "-f", str(allowed_signers)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        principals = found.stdout.split()
        if found.returncode != 0 or not principals:
            raise BundleError(f"{source}: refused: signed by a key that is not in {allowed_signers}")
        checked = subprocess.run(
            [
                _ssh_keygen(),
                "-Y",
                "verify",
                "-f",
                str(allowed_signers),
                "-I",
                principals[0],
                "-n",
                NAMESPACE,
                "-s",
                str(signature_file),
            ],
            stdin=data,
            capture_output=True,
        )
        if checked.returncode != 0:
            reason = (checked.stderr or checked.stdout).decode(errors="replace").strip()
            raise BundleError(f"{source}: refused: the signature does not match the bundle ({reason})")
        return principals[0]
