"""Where a command's result goes: `-o FILE` (whole, or not at all) or standard output.

Shared by `export` and `report`; a failed write is one line, exit 2.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from sftscope.tui.cli.errors import UsageError, fail


@dataclass(frozen=True)
class OutputTarget:
    """Where `-o PATH` really writes. `regular`: a file replaced atomically at `path`
    (a symlink's target, beside it); else a node written into as it is (a FIFO, a
    character device such as /dev/null, anything under /dev or /proc): replacing
    one of those with a regular file broke the system's /dev/null when run as root."""

    path: Path
    regular: bool


def output_target(output: Path, flag: str | None = None) -> OutputTarget:
    """The target of `-o output`, or UsageError naming the flag (a directory, a socket)."""
    shown = flag or str(output)
    try:
        mode = os.stat(output).st_mode  # follows symlinks: what the link points at
    except FileNotFoundError:
        mode = None
    except OSError:
        return OutputTarget(output, True)  # the write says why, as one line
    if mode is not None and stat.S_ISDIR(mode):
        raise UsageError(f"-o {shown}: is a directory")
    system = os.path.abspath(output).startswith(("/dev/", "/proc/"))
    if mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or system):
        return OutputTarget(output, False)
    if mode is not None and not stat.S_ISREG(mode):
        raise UsageError(f"-o {shown}: not a regular file, a FIFO or a character device")
    if system:
        raise UsageError(f"-o {shown}: no such device")
    return OutputTarget(Path(os.path.realpath(output)), True)


def write_output(target: OutputTarget, text: str) -> None:
    """A regular file whole or not at all (temporary file beside it, then os.replace);
    a device or FIFO written into, never replaced."""
    if target.regular:
        from sftscope.sessions.core.files import write_atomically

        write_atomically(target.path, text)
        return
    with open(target.path, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()


def emit(text: str, output: Path | None, *, flag: str | None = None, data: bool = False) -> int:
    """Write a command's result to `-o FILE` (whole, or not at all) or to standard output;
    a failed write is one line, exit 2 (export and report).

    `data` (an export): written exactly, except onto a terminal, where a CSV cell's
    escape sequences would be obeyed, not shown; there it is shown inert. A file or a
    pipe always gets the exact characters."""
    from sftscope.sessions.core.store import describe_os_error

    if output is None and data and sys.stdout.isatty():
        from sftscope.sessions.core.inert import inert

        text = inert(text)

    if output is not None:
        try:
            write_output(output_target(output, flag), text)
        except UsageError as exc:
            return fail(str(exc))
        except OSError as exc:
            return fail(f"-o {flag or output}: not written ({describe_os_error(exc)})")
        return 0
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_stdout()  # the reader stopped (`| head`): nothing is wrong, nothing to say
        return 0
    except OSError as exc:
        quiet_stdout()
        return fail(f"standard output: not written ({describe_os_error(exc)})")
    return 0


def quiet_stdout() -> None:
    """Nothing more can reach stdout; keep Python from trying again at exit."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
