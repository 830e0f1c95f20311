"""Profile bundles: one signed file per profile version, installed so a unit always has a complete profile.

`manifest` says what a bundle holds, `archive` packs and safely unpacks it, `signing` wraps
`ssh-keygen -Y`, `disk` makes every change durable in order, `unit` knows the head unit's layout,
`daemon` talks to the running service, and `install` joins them (install, rollback).
"""

from __future__ import annotations

from carvoice.errors import CarvoiceError


class BundleError(CarvoiceError):
    """A bundle or unit problem worth telling an installer in one message; nothing was switched."""
