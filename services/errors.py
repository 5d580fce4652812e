"""Errors that decide how a failed stage is treated."""


class InputError(Exception):
    """Bad input that no retry can fix (missing image, unreadable file, no ad copy)."""


class ClaimLost(Exception):
    """The row was not in the state this stage needs, or its lease was taken away."""
