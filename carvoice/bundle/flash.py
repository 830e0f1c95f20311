"""Push one bundle to several head units over the installer's own ssh and scp, in parallel.

Each unit does its own verify-install-confirm-rollback (`carvoice bundle install` there); this side
only copies, starts it and reports. ssh runs in batch mode: a unit that wants a password is reported
as unreachable instead of stopping the others to ask.
"""

from __future__ import annotations

import shlex
import subprocess
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

UNREACHABLE = 255  # what ssh and scp exit with when they cannot reach or log in to the host


@dataclass
class Result:
    """What happened on one unit, for the summary."""

    host: str
    state: str = "waiting"  # copying, installing, installed, rolled back, refused, unreachable
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "installed"

    @property
    def detail(self) -> str:
        return self.lines[-1] if self.lines else ""


@dataclass(frozen=True)
class Options:
    ssh: tuple[str, ...] = ("ssh",)  # the installer's ssh with any options (-F FILE, -o ..., -i KEY)
    scp: tuple[str, ...] = ("scp",)
    carvoice: str = "carvoice"  # the command on the unit
    install_args: tuple[str, ...] = ()  # passed to `carvoice bundle install` there (--root, --timeout)


def flash(
    bundle: Path, hosts: list[str], options: Options, progress: Callable[[Result, str], None], jobs: int = 8
) -> list[Result]:
    """Install `bundle` on every host at once; progress(result, line) is called as things happen."""
    results = [Result(host) for host in hosts]
    lock = threading.Lock()

    def report(result: Result, line: str) -> None:
        with lock:
            progress(result, line)

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(hosts)))) as pool:
        list(pool.map(lambda result: _one(bundle, result, options, report), results))
    return results


def _one(bundle: Path, result: Result, options: Options, report: Callable[[Result, str], None]) -> None:
    remote = f"/tmp/carvoice-{uuid.uuid4().hex}.cvb"
    result.state = "copying"
    report(result, f"copying {bundle.name} ({bundle.stat().st_size // 1024 + 1} KiB)")
    copied = subprocess.run(
        [*options.scp, "-o", "BatchMode=yes", str(bundle), f"{result.host}:{remote}"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if copied.returncode != 0:
        result.state = "unreachable" if copied.returncode == UNREACHABLE else "copy failed"
        result.lines.append(_one_line(copied.stderr) or "scp failed")
        report(result, result.lines[-1])
        return
    result.state = "installing"
    report(result, "installing")
    install = " ".join(
        shlex.quote(part)
        for part in (*shlex.split(options.carvoice), "bundle", "install", remote, *options.install_args)
    )
    command = f"{install} 2>&1; status=$?; rm -f {shlex.quote(remote)}; exit $status"
    process = subprocess.Popen(
        [*options.ssh, "-o", "BatchMode=yes", result.host, command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None  # both PIPE
    for line in process.stdout:
        line = line.rstrip().removeprefix("carvoice bundle: ")
        if line:
            result.lines.append(line)
            report(result, line)
    errors = process.stderr.read().strip()
    code = process.wait()
    if code == 0:
        result.state = "installed"
    elif code == UNREACHABLE:
        result.state = "unreachable"
        result.lines.append(_one_line(errors) or "ssh failed")
    else:
        result.state = "rolled back" if any("rolled back" in line for line in result.lines) else "refused"
    report(result, result.state)


def _one_line(errors: str) -> str:
    """ssh's and scp's messages on one line (e.g. "ssh: connect to host ...: Connection refused; scp: ...")."""
    return "; ".join(line.strip() for line in errors.splitlines() if line.strip())
