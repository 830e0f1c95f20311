"""Simulated head units: real OpenSSH servers on loopback ports, each with its own unit root.

Each server sets CARVOICE_ROOT and CARVOICE_RUNTIME_DIR for its sessions (sshd's SetEnv), so the
same `carvoice bundle install` works on "its" unit. The client side is an ssh config file, as an
installer's ~/.ssh/config would be.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bundles import ssh_key

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"


@dataclass
class SshUnit:
    name: str
    port: int
    root: Path
    runtime: Path
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_units(tmp: Path, names: list[str]) -> tuple[list[SshUnit], Path]:
    """Start one sshd per name; returns the units and an ssh config file naming them."""
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    tmp.mkdir(parents=True, exist_ok=True)
    host_key = ssh_key(tmp / "host_key", "unit")
    client_key = ssh_key(tmp / "installer_key", "installer")
    authorized = tmp / "authorized_keys"
    authorized.write_text(Path(f"{client_key}.pub").read_text())
    known_hosts, config = [], []
    units = []
    for name in names:
        port = free_port()
        root, runtime = tmp / name / "root", tmp / name / "run"
        root.mkdir(parents=True)
        server_config = tmp / name / "sshd_config"
        server_config.write_text(f"""\
ListenAddress 127.0.0.1
Port {port}
HostKey {host_key}
PidFile {tmp / name / "sshd.pid"}
AuthorizedKeysFile {authorized}
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
Subsystem sftp {SFTP_SERVER}
# the default post-quantum key exchange costs ~0.5 s per connection on a small machine
KexAlgorithms curve25519-sha256
SetEnv CARVOICE_ROOT={root} CARVOICE_RUNTIME_DIR={runtime}
""")
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(server_config)], stderr=subprocess.DEVNULL)
        units.append(SshUnit(name, port, root, runtime, process))
        known_hosts.append(
            f"[127.0.0.1]:{port} {Path(f'{host_key}.pub').read_text().split(' ', 2)[0]} "
            f"{Path(f'{host_key}.pub').read_text().split(' ', 2)[1]}"
        )
        config.append(f"""\
Host {name}
  HostName 127.0.0.1
  Port {port}
  User {getpass.getuser()}
  IdentityFile {client_key}
  IdentitiesOnly yes
  UserKnownHostsFile {tmp / "known_hosts"}
  StrictHostKeyChecking yes
""")
    (tmp / "known_hosts").write_text("\n".join(known_hosts) + "\n")
    ssh_config = tmp / "ssh_config"
    ssh_config.write_text("".join(config))
    for unit in units:
        _wait_listening(unit)
    return units, ssh_config


def _wait_listening(unit: SshUnit, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if unit.process.poll() is not None:
            raise RuntimeError(f"sshd for {unit.name} exited ({unit.process.returncode})")
        try:
            socket.create_connection(("127.0.0.1", unit.port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd for {unit.name} is not listening on port {unit.port}")


def stop_units(units: list[SshUnit]) -> None:
    for unit in units:
        unit.process.terminate()
    for unit in units:
        unit.process.wait(timeout=10)
