"""The assets directory the parts share: present, readable, and writable where this service writes."""
import os
import tempfile
from pathlib import Path

# Where the service writes under ASSETS_DIR (services/stages/image.py: save_png); the rest it only reads.
WRITES = ("overlaid", "masks")


def assets_problem(root: Path) -> str | None:
    """None when the service can read `root` and write its folders; else one line saying what is wrong.

    Probes with real files, not os.access: a read-only mount, a full disk or an ACL is what counts, and
    the answer must be the same for root and for the image's uid 10001."""
    root = Path(root)
    who = f"uid {os.getuid()}"
    if not root.exists():
        return f"assets directory {root} is missing (mount the shared folder there: ASSETS_HOST_DIR)"
    if not root.is_dir():
        return f"assets directory {root} is not a directory"
    try:
        os.listdir(root)
    except OSError as exc:
        return f"assets directory {root} is not readable by {who}: {exc.strerror}"
    for name in WRITES:
        folder = root / name
        try:
            folder.mkdir(exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".healthz-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            return f"assets directory {folder} is not writable by {who}: {exc.strerror}"
    return None
