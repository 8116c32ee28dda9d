"""Every error a user can cause, rooted in one exception.

The CLI turns a :class:`PipkitError` into one line on stderr and its exit code, in one
place (``pipkit.cli._Group.invoke``); nothing else catches them. Imports nothing from pipkit.
"""

from __future__ import annotations

# Exit codes, as documented in the README.
OK = 0
FAILED = 1  # drift found, or an operation failed
USAGE = 2  # bad usage or bad input


class PipkitError(Exception):
    """Root of pipkit's errors: a message, an exit code and, where known, a location."""

    exit_code: int = FAILED

    def __init__(
        self, message: str, *, location: str | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        # What a tool said (pip's captured output), shown before the one line when asked for.
        self.detail = detail
        # What is shown only under -v (pip's full output when the line summarizes it).
        self.verbose_detail: str | None = None

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class UsageError(PipkitError):
    """Bad option or argument: exit 2."""

    exit_code = USAGE


class InputError(PipkitError):
    """A file pipkit reads is malformed (``location`` is ``FILE:LINE``): exit 2."""

    exit_code = USAGE


class TargetError(PipkitError):
    """The target interpreter is missing, broken or may not be modified: exit 2."""

    exit_code = USAGE


class OperationError(PipkitError):
    """An operation failed (pip failed, index unreachable, ...): exit 1."""

    exit_code = FAILED


class LockedError(OperationError):
    """Another pipkit process holds the environment's lock."""
