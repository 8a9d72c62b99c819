"""Atomic file writes, and the cleanup of what interrupted ones left behind.

`write` puts the content into a temporary file beside the target, named
``.<target>.<host>.<pid>.<random>.tmp``, syncs it to disk and renames it over the target
(``os.replace``, atomic on one file system): readers see the old file or the new one,
never half of one. A writer killed with ``kill -9`` cannot delete its temporary file, so
every write first removes the temporaries of the same target that are stale:

* written on this machine by a process that no longer exists, or
* untouched for `STALE_SECONDS` (a writer on another machine sharing the folder, or a
  process id reused since: its pid cannot prove it gone).

A concurrent writer's temporary file is therefore never removed while it is being
written (it belongs to a live process, or it changed recently); only files of exactly
this pattern, for this target, are considered.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
import uuid
from pathlib import Path

STALE_SECONDS = 3600
HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


def write(path, write_content):
    """Write ``path`` atomically: ``write_content(f)`` fills a binary file ``f``; return the path.

    On failure the target is left as it was, the temporary file is removed, and an
    `OSError` (e.g. a full disk) carries the target's name in ``filename``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = path.with_name(f".{path.name}.{HOST}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            write_content(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename in (None, str(tmp)):
            exc.filename = str(path)          # "[Errno 28] No space left on device: 'path'"
        raise
    _sync_folder(path.parent)
    return path


def remove_stale(path):
    """Delete the stale temporary files that interrupted writes of ``path`` left behind."""
    path = Path(path)
    pattern = re.compile(
        rf"\.{re.escape(path.name)}\.([A-Za-z0-9-]+)\.(\d{{1,10}})\.[0-9a-f]{{8}}\.tmp")
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None:
            continue
        with contextlib.suppress(OSError):        # gone already, or not ours to delete
            if entry.is_file(follow_symlinks=False) and _stale(entry, match[1], int(match[2])):
                os.unlink(entry.path)


def _stale(entry, host, pid) -> bool:
    age = time.time() - entry.stat(follow_symlinks=False).st_mtime
    if age > STALE_SECONDS:
        return True
    return host == HOST and pid != os.getpid() and not _alive(pid)


def _alive(pid) -> bool:
    """Whether process ``pid`` exists on this machine (True when that cannot be told)."""
    if os.name == "nt":         # os.kill(pid, 0) would terminate it there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError, OverflowError):     # e.g. another user's process
        return True
    return True


def _sync_folder(folder):
    """Make the rename durable (POSIX: fsync the directory); best effort elsewhere."""
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
