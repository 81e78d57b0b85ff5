"""The ``harness`` command: a thin layer over the library.

Import-light on purpose: ``harness --help`` and ``harness ls ...`` never import torch, timm, ART,
facenet-pytorch or PyAV; each subcommand imports what it needs when it runs
(:mod:`harness.cli.commands`; the flags are in :mod:`harness.cli.parser`).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from harness.cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``harness`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from harness import distributed

    if not distributed.world().main:  # under torchrun only rank 0 prints tables (errors still show)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    received: list[int] = []
    previous = _sigterm_interrupts(received)
    try:
        with distributed.process_group(getattr(args, "device", None) or "auto"):
            return int(args.func(args))
    except (KeyError, ValueError, TypeError, FileNotFoundError, FloatingPointError) as exc:
        # Expected user errors (unknown names, bad options, bad checkpoints): one clear line.
        # HARNESS_DEBUG=1 shows the traceback instead.
        if os.environ.get("HARNESS_DEBUG"):
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"harness: error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:
        # Disk full, quota, read-only, permissions, or any error on a named file: one line
        # naming the path and the fix (harness.fileio.describe_os_error).
        from harness.fileio import STORAGE_ERRNOS, describe_os_error

        if os.environ.get("HARNESS_DEBUG") or (exc.errno not in STORAGE_ERRNOS and exc.filename is None):
            raise
        print(f"harness: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # Ctrl-C or SIGTERM: the workers were stopped on the way out; one line saying what is
        # kept for a re-run (harness.runner.Interrupted), the shell's status for the signal.
        if os.environ.get("HARNESS_DEBUG"):
            raise
        print(f"harness: {str(exc) or 'interrupted'}", file=sys.stderr)
        return 128 + (received[0] if received else signal.SIGINT)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _sigterm_interrupts(received: list[int]) -> Any:
    """Make SIGTERM (``kill``, a scheduler's time limit, torchrun stopping its ranks) take the
    Ctrl-C path: a ``KeyboardInterrupt`` in the main thread, so workers stop and the resume logs
    close the same way. The signal is appended to ``received``; returns the handler it replaced
    (``None`` off the main thread, where nothing is installed)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["build_parser", "main"]
