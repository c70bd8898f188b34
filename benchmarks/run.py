"""Speed benchmarks for funnelcli, measured side by side with their baselines in one run.

    python benchmarks/run.py [--rows 1000000] [--repeat 3] [--keep-going]

Makes (once, cached under benchmarks/data/) an export of --rows leads in the layout of the bundled
sample, with samples/make_sample.py. Then, alternating runs so that both sides see the same
machine load, it times whole commands as a user runs them (a fresh interpreter each time):

  baseline    python -c "import pandas; pandas.read_csv(PATH, engine='pyarrow')"
  conversion  funnelcli conversion PATH        (and purgatory --by owner, trends, report)
  --help      funnelcli --help  against  python -c "import pandas"

and prints the median wall time of each, peak memory (max RSS), and the ratio to the baseline.
Targets (issue 2-4): each report command within 1.5x of the baseline; --help under half of
`import pandas`. Exit 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
# Compiled modules are cached as an installed package's are (some shells set the opposite),
# so each run times the work, not recompiling funnelcli's sources.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def make_export(rows: int) -> Path:
    path = DATA / f"leads-{rows}.csv"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        print(f"making {path} ({rows:,} leads)...", file=sys.stderr)
        subprocess.run([sys.executable, str(ROOT / "samples" / "make_sample.py"), "--rows", str(rows),
                        "--out", str(path), "--no-manifest"], check=True)
    return path


def timed(argv: list[str]) -> tuple[float, float]:
    """Return (wall seconds, peak memory in MB) of a command run to completion (exit 0 or 1)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env=CHILD_ENV)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS, in KB on Linux
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode not in (0, 1):
            err.seek(0)
            sys.exit(f"{' '.join(argv)} failed ({child.returncode}):\n{err.read().decode()}")
    return wall, usage.ru_maxrss / 1024


def funnelcli(*args: str) -> list[str]:
    return [sys.executable, "-m", "funnelcli", *args]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="run only this command (conversion, purgatory, trends, report)")
    args = parser.parse_args()
    path = str(make_export(args.rows))
    commands = {
        "baseline read_csv": [sys.executable, "-c", f"import pandas; pandas.read_csv({path!r}, engine='pyarrow')"],
        "conversion": funnelcli("conversion", path, "-q", "-f", "text"),
        "purgatory --by owner": funnelcli("purgatory", path, "--by", "owner", "-q", "-f", "text"),
        "trends": funnelcli("trends", path, "-q", "-f", "text"),
        "report": funnelcli("report", path, "-q", "-f", "text"),
    }
    if args.only:
        commands = {k: v for k, v in commands.items() if k.startswith(("baseline", args.only))}
    walls: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, float] = {name: 0.0 for name in commands}
    names = list(commands)
    for rep in range(args.repeat):
        # Rotate the order each round: a run right after a heavy one can pay for the memory the
        # kernel is still reclaiming, so no command should always come second.
        for name in names[rep % len(names):] + names[: rep % len(names)]:
            argv = commands[name]
            wall, peak = timed(argv)
            walls[name].append(wall)
            peaks[name] = max(peaks[name], peak)
    help_walls = {"import pandas": [], "funnelcli --help": []}
    for _ in range(max(5, args.repeat)):
        help_walls["import pandas"].append(timed([sys.executable, "-c", "import pandas"])[0])
        help_walls["funnelcli --help"].append(timed(funnelcli("--help"))[0])

    base = statistics.median(walls["baseline read_csv"])
    print(f"{args.rows:,} leads, {os.path.getsize(path) / 1e6:.0f} MB, median of {args.repeat} runs\n")
    print(f"{'command':<22} {'median s':>9} {'ratio':>7} {'peak MB':>8}  target")
    missed = False
    for name, values in walls.items():
        median = statistics.median(values)
        if name.startswith("baseline"):
            print(f"{name:<22} {median:>9.2f} {1:>7.2f} {peaks[name]:>8.0f}")
            continue
        ok = median <= 1.5 * base
        missed |= not ok
        print(f"{name:<22} {median:>9.2f} {median / base:>7.2f} {peaks[name]:>8.0f}  {'ok' if ok else 'MISSED'} (<= 1.50)")
    pandas_import = statistics.median(help_walls["import pandas"])
    help_time = statistics.median(help_walls["funnelcli --help"])
    ok = help_time < 0.5 * pandas_import
    missed |= not ok
    print(f"\n{'import pandas':<22} {pandas_import:>9.3f}")
    print(f"{'funnelcli --help':<22} {help_time:>9.3f} {help_time / pandas_import:>7.2f}  {'ok' if ok else 'MISSED'} (< 0.50)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
