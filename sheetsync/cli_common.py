"""What every sub-command shares: the consoles, exit codes and the no-traceback promise."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

# the codes of sheetsync.runlog: 3 is "did not run, another run holds the drive or the register"
EXIT_OK, EXIT_PROBLEMS, EXIT_FAILED, EXIT_BUSY = 0, 1, 2, 3
DEFAULT_PROFILE = "guangzhou-2013"

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """A mistake in how the command was called; its text is shown as is (Chinese)."""


def _busy(error: Exception) -> bool:
    """Another run holds the drive's run lock or the register's exclusive lock."""
    from sheetsync.runlock import RunInProgress
    from sheetsync.store import RegisterBusy

    return isinstance(error, RunInProgress | RegisterBusy)


def friendly(command: F) -> F:
    """Turn any failure into a one-line Chinese message and an exit code, never a traceback.

    A busy drive or register exits 3 (nothing was done; try later); a full disk, a file-size
    limit, a read-only or forbidden folder is told as such, naming the path, and exits 2 like
    every other failure.  The messages of :class:`UserError`, the busy locks and
    :class:`~sheetsync.consolidate.MasterNotWritten` are Chinese already and shown as they are.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except UserError as error:
            err_console.print(f"[red]错误:[/red]{error}")
            raise typer.Exit(EXIT_FAILED) from None
        except Exception as error:  # the promise is: no traceback for an officer
            if os.environ.get("SHEETSYNC_DEBUG"):
                raise
            if _busy(error):
                err_console.print(f"[yellow]未运行:[/yellow]{error}")
                raise typer.Exit(EXIT_BUSY) from None
            from sheetsync.consolidate import MasterNotWritten
            from sheetsync.master_files import write_error_message

            message = str(error) if isinstance(error, MasterNotWritten) else write_error_message(error)
            err_console.print(f"[red]运行失败:[/red]{message or f'{type(error).__name__}: {error}'}")
            raise typer.Exit(EXIT_FAILED) from None

    return wrapper  # type: ignore[return-value]
