"""The ``harness`` command: a thin layer over the library.

Import-light on purpose: ``harness --help`` and ``harness ls ...`` never import torch, timm, ART,
facenet-pytorch or PyAV; each subcommand imports what it needs when it runs
(:mod:`harness.cli.commands`; the flags are in :mod:`harness.cli.parser`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from harness.cli.parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``harness`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from harness import distributed

    if not distributed.world().main:  # under torchrun only rank 0 prints tables (errors still show)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["build_parser", "main"]
