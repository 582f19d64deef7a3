"""Staff roles."""

from enum import StrEnum


class Role(StrEnum):
    """What a staff member may do: owner > manager > clerk."""

    OWNER = "owner"
    MANAGER = "manager"
    CLERK = "clerk"
