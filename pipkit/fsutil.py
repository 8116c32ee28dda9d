"""Small file-system helpers: atomic writes. Standard library only."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half.

    A temp file in the same folder, fsynced, then renamed over the target (rename is atomic
    within one file system). The file keeps the old file's permissions when there was one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    import tempfile  # here: a cached no-op reads files through this module, never writes

    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.chmod(tmp, os.stat(target).st_mode & 0o7777)
        except FileNotFoundError:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# A lock or requirements file larger than this is refused unread: no real one comes close,
# and `-r /dev/zero` must not fill the memory.
MAX_INPUT_BYTES = 64 * 1024 * 1024


def read_input_file(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The bytes of a file pipkit reads as input (a lock, a requirements file).

    Raises OSError with a readable ``strerror`` for what is not a regular file (a FIFO or a
    device would hang or never end: it is refused without being opened for reading) and for a
    file over ``limit`` bytes. Opened with O_NONBLOCK so a FIFO never blocks the open itself.
    """
    import errno
    import stat

    limit = MAX_INPUT_BYTES if limit is None else limit
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise OSError(errno.EINVAL, kind, os.fspath(path))
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit // (1024 * 1024)} MiB", os.fspath(path))
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, 1 << 20):
            total += len(chunk)
            if total > limit:  # grew while read
                raise OSError(
                    errno.EFBIG, f"larger than {limit // (1024 * 1024)} MiB", os.fspath(path)
                )
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
