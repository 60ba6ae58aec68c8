"""`python -m parallelverse` and the `parallelverse` command (pyproject's entry point).

Importing the CLI takes a moment; a Ctrl-C (or SIGTERM) in it is the same one line and
exit code 130 as once a command runs, not a traceback of the import."""

import signal
import sys


def run() -> None:
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as the commands take it (cli.console.Group)
    try:
        from parallelverse.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    main()


if __name__ == "__main__":
    run()
