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

EXIT_OK, EXIT_PROBLEMS, EXIT_FAILED = 0, 1, 2
DEFAULT_PROFILE = "guangzhou-2013"

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """A mistake in how the command was called; its text is shown as is (Chinese)."""


def friendly(command: F) -> F:
    """Turn any failure into a one-line Chinese message and exit code 2, never a traceback."""

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
            err_console.print(f"[red]运行失败:[/red]{type(error).__name__}: {error}")
            raise typer.Exit(EXIT_FAILED) from None

    return wrapper  # type: ignore[return-value]
