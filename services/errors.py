"""Errors that decide how a failed stage is treated."""
from pathlib import Path


def relative_paths(message: str, assets_dir: Path) -> str:
    """The message with ASSETS_DIR's absolute prefix cut: stored errors name files relative to it."""
    for root in {str(Path(assets_dir).resolve()), str(Path(assets_dir).absolute())}:
        message = message.replace(root + "/", "").replace(root, ".")
    return message


class InputError(Exception):
    """Bad input that no retry can fix (missing image, unreadable file, no ad copy)."""


class ClaimLost(Exception):
    """The row was not in the state this stage needs, or its lease was taken away."""
