"""`python -m funnelcli`, and the `funnelcli` command's entry point: Ctrl-C while the command is
still starting (importing Click and funnelcli takes a few tenths of a second on a busy machine)
exits as Ctrl-C does later, with 130 and one line, not a traceback; SIGTERM then exits 143."""

import os
import sys


def _terminated(signum, frame):  # SIGTERM unwinds like Ctrl-C: no temporary file is left behind
    raise SystemExit(128 + signum)


def run() -> None:
    import signal

    # first, before the imports: a SIGTERM while they run (a busy machine) exits 143, not killed
    signal.signal(signal.SIGTERM, _terminated)
    try:
        from funnelcli.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("funnelcli: interrupted\n")
        sys.stderr.flush()
        os._exit(130)  # not SystemExit: after a Ctrl-C inside an import, the interpreter's exit would be SIGINT's
    main()


if __name__ == "__main__":
    run()
