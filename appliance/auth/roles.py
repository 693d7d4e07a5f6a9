"""Who may do what at the kiosk: a technician screens, an administrator also manages the box."""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    TECHNICIAN = "technician"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        """True when this role may do what `needed` may: an administrator may do everything."""
        return self is Role.ADMIN or self is needed
