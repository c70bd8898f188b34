"""`python -m funnelcli`, and the `funnelcli` command's entry point: Ctrl-C while the command is
still starting (importing Click and funnelcli takes a few tenths of a second on a busy machine)
exits as Ctrl-C does later, with 130 and one line, not a traceback."""

import os
import sys


def run() -> None:
    try:
        from funnelcli.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("funnelcli: interrupted\n")
        sys.stderr.flush()
        os._exit(130)  # not SystemExit: after a Ctrl-C inside an import, the interpreter's exit would be SIGINT's
    main()


if __name__ == "__main__":
    run()
