"""What the command-line scripts share: a user's mistake is one line and exit status 2.

Expected errors (a bad config key or value, a missing file or model directory, a run directory
in use, impossible settings) print ``error: <message>`` on stderr and exit with status 2; the
traceback is for ``--debug`` (or ``SEQ2SEQ_DEBUG=1``), where the error is raised as usual.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from seq2seq.checkpoints import CheckpointError
from seq2seq.config import ConfigError
from seq2seq.run_directory import RunDirectoryError

USER_ERRORS = (ConfigError, RunDirectoryError, CheckpointError, FileNotFoundError, NotADirectoryError, KeyError,
               TypeError, ValueError)


def make_parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parser


def run(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
    """Call ``main(argv)``; a user error becomes one line on stderr and exit status 2."""
    arguments = sys.argv[1:] if argv is None else argv
    debug = "--debug" in arguments or os.environ.get("SEQ2SEQ_DEBUG", "") not in ("", "0")
    try:
        main(argv)
    except USER_ERRORS as error:
        if debug:
            raise
        # str(KeyError) quotes its message; the message itself reads better.
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        if os.environ.get("RANK", "0") == "0":  # under a launcher every process fails alike: say it once
            print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
