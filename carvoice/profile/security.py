"""What a profile, which may come from anyone, may not do: write files through a serial URL, or command
diagnostic IDs."""

from __future__ import annotations

from typing import Any

from carvoice.profile.model import (
    CanAction,
    Intent,
    diagnostic_id,
)
from carvoice.profile.schema import Schema

# What a profile, which may come from anyone, may name. pyserial's spy:// writes a log to any
# file and rfc2217:// or hwgrep:// are not ports a head unit has.
SERIAL_URL_SCHEMES = ("loop", "socket", "relayboard")
DIAGNOSTIC = (
    "{ident} is a diagnostic (OBD-II/UDS) identifier that ECUs obey, 7DF all of them at once:"
    " only [obd] polling may use it, never a command"
)


class Security(Schema):
    """The security policy's checks."""

    def _safe_serial_url(self, key: str, url: str) -> bool:
        """A profile may come from anyone: no pyserial URL that writes files (spy://) or is not a port."""
        scheme = url.split("://", 1)[0] if "://" in url else None
        if scheme is not None and scheme not in SERIAL_URL_SCHEMES:
            allowed = ", ".join(f"{s}://" for s in SERIAL_URL_SCHEMES)
            self.report(key, f"{scheme}:// is not allowed in a profile (a device path, or {allowed})", url)
            return False
        if scheme == "relayboard":
            try:
                self.stages.check_relayboard_url(url)
            except ValueError as error:
                self.report(key, str(error))
                return False
        return True

    def _check_diagnostic_messages(self, intents: dict[str, Intent], dbc: Any) -> None:
        """A command may not send a DBC message that sits on a diagnostic identifier either."""
        for intent in intents.values():
            for action in intent.actions:
                if not isinstance(action, CanAction):
                    continue
                try:
                    message = dbc.get_message_by_name(action.message)
                except KeyError:
                    continue  # reported when the actions are planned
                if diagnostic_id(message.frame_id, message.is_extended_frame):
                    ident = f"{message.frame_id:0{8 if message.is_extended_frame else 3}X}"
                    self.report(f"{action.key}.can", DIAGNOSTIC.format(ident=ident), action.message)
