"""Speed benchmarks for funnelcli, measured side by side with their baselines in one run.

    python benchmarks/run.py [--rows 1000000] [--repeat 3] [--only COMMAND]

Makes (once, cached under benchmarks/data/) an export of --rows leads in the layout of the bundled
sample, with samples/make_sample.py. Then, alternating runs so that every side sees the same
machine load, it times whole commands as a user runs them (a fresh interpreter each time):

  baseline    python -c "import pandas; pandas.read_csv(PATH, engine='pyarrow')"
  duckdb      the same funnel as one DuckDB query, polars as a Polars lazy scan (baselines.py;
              pip install -e '.[bench]')
  conversion  funnelcli conversion PATH        (and purgatory --by owner, trends, report)
  --cache     conversion --cache, then report --cache on the same export (a cron job's second report)
  parquet     conversion of the export written as Parquet (made once)
  --help      funnelcli --help  against  python -c "import pandas"

and prints the median wall time of each, peak memory (max RSS), and the ratios. Targets: each
command within 1.5x of read_csv (issues 2-4); conversion at most 0.8x and report at most 1.0x the
DuckDB query at 1,000,000 leads, peak memory at most 1.2 GB at 5,000,000 leads and 2.5 GB at
20,000,000, a 100,000-lead report under 0.7 s, the cached second run at most 0.3x the first,
--help under 0.4x `import pandas` (issue 13). Exit 1 if a target is missed.

    python benchmarks/run.py --shapes [--rows 1000000] [--repeat 3]

times instead one funnel of --rows leads given in three export shapes (benchmarks/make_shapes.py,
cached under benchmarks/data/shapes-N/; definitions in benchmarks/definitions/{wide,log,join}):

  wide   funnelcli conversion wide.csv                   a row per lead, a date column per stage
  log    funnelcli conversion log.csv                    a stage-history log, about 5 rows per lead
  join   funnelcli conversion leads.csv --join opportunities=opportunities.csv

First one untimed run of each with -f json checks that the three agree with the generator's
ground truth (reached, converted and exited per stage); then, rotating the order, the timed runs.
Targets: the log and the join each within 2x of the wide export's time. Exit 1 if the shapes
disagree or a target is missed.

    python benchmarks/run.py --list [--rows 100000] [--repeat 3]

times the stuck list (`purgatory --list`) of --rows leads as a table against -f text. Target:
the table at most 2x the text's time.
"""

from __future__ import annotations

import argparse
import json
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


def timed(argv: list[str], env: dict | None = None) -> tuple[float, float]:
    """Return (wall seconds, peak memory in MB) of a command run to completion (exit 0 or 1)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env={**CHILD_ENV, **(env or {})})
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS, in KB on Linux
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode not in (0, 1):
            err.seek(0)
            sys.exit(f"{' '.join(argv)} failed ({child.returncode}):\n{err.read().decode()}")
    return wall, usage.ru_maxrss / 1024


def funnelcli(*args: str) -> list[str]:
    return [sys.executable, "-m", "funnelcli", *args]


def make_shapes(leads: int) -> Path:
    """Return the folder of the three shapes of a --rows-lead funnel, made once (in a temporary
    folder renamed when complete, so an interrupted run leaves nothing half-written)."""
    folder = DATA / f"shapes-{leads}"
    if not (folder / "expected.json").exists():
        DATA.mkdir(parents=True, exist_ok=True)
        partial = DATA / f"shapes-{leads}.partial"
        print(f"making {folder} ({leads:,} leads in three shapes)...", file=sys.stderr)
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_shapes.py"), "--leads", str(leads),
                        "--out", str(partial)], check=True)
        if folder.exists():
            for old in folder.iterdir():
                old.unlink()
            folder.rmdir()
        partial.rename(folder)
    return folder


def shape_commands(folder: Path) -> dict[str, tuple[list[str], list[Path]]]:
    """Return shape -> (funnelcli conversion arguments, the files it reads)."""
    defs = ROOT / "benchmarks" / "definitions"
    return {
        "wide": (["conversion", str(folder / "wide.csv"), "-d", str(defs / "wide")], [folder / "wide.csv"]),
        "log": (["conversion", str(folder / "log.csv"), "-d", str(defs / "log")], [folder / "log.csv"]),
        "join": (["conversion", str(folder / "leads.csv"), "-d", str(defs / "join"),
                  "--join", f"opportunities={folder / 'opportunities.csv'}"],
                 [folder / "leads.csv", folder / "opportunities.csv"]),
    }


def stage_counts(args: list[str]) -> dict:
    """Return reached, converted and exited per stage, and the as-of date, from a -f json run."""
    out = subprocess.run(funnelcli(*args, "-q", "-f", "json"), capture_output=True, text=True, cwd=ROOT, env=CHILD_ENV)
    if out.returncode != 0:
        sys.exit(f"funnelcli {' '.join(args)} failed ({out.returncode}):\n{out.stderr}")
    report = json.loads(out.stdout)
    stages = {s["stage"]: {k: s[k] for k in ("reached", "converted", "exited")} for s in report["tables"]["stages"]}
    return {"as_of": report["as_of"], "stages": stages}


def check_shapes(folder: Path, commands: dict) -> bool:
    """Check that every shape gives the generator's reached and exited counts, and the same
    reached, converted and exited as the wide export; print what differs."""
    expected = json.loads((folder / "expected.json").read_text())
    counts = {name: stage_counts(argv) for name, (argv, _) in commands.items()}
    ok = True
    wide = counts["wide"]
    for name, got in counts.items():
        for stage, n in expected["reached"].items():
            if got["stages"].get(stage, {}).get("reached") != n:
                print(f"MISMATCH {name}: {stage} reached {got['stages'].get(stage, {}).get('reached')}, generated {n}")
                ok = False
        if got["as_of"] != expected["as_of"]:
            print(f"MISMATCH {name}: as of {got['as_of']}, generated up to {expected['as_of']}")
            ok = False
        exited = sum(s["exited"] or 0 for s in got["stages"].values())
        if exited != expected["exited"]["Lost"]:
            print(f"MISMATCH {name}: {exited} leads exited, generated {expected['exited']['Lost']} Lost")
            ok = False
        if got != wide:
            print(f"MISMATCH {name} vs wide:\n  {name}: {got}\n  wide: {wide}")
            ok = False
    if ok:
        line = ", ".join(f"{s} {c['reached']:,}" for s, c in wide["stages"].items())
        print(f"shapes agree: reached {line}; Lost {expected['exited']['Lost']:,}\n")
    return ok


def shapes(args: argparse.Namespace) -> int:
    folder = make_shapes(args.rows)
    commands = shape_commands(folder)
    ok = check_shapes(folder, commands)  # also the warm-up run of each shape
    names = list(commands)
    walls: dict[str, list[float]] = {name: [] for name in names}
    peaks: dict[str, float] = {name: 0.0 for name in names}
    for rep in range(args.repeat):
        for name in names[rep % len(names):] + names[: rep % len(names)]:  # rotate, as in main()
            wall, peak = timed(funnelcli(*commands[name][0], "-q", "-f", "text"))
            walls[name].append(wall)
            peaks[name] = max(peaks[name], peak)
    expected = json.loads((folder / "expected.json").read_text())
    print(f"{args.rows:,} leads ({expected['rows']['log.csv'] / args.rows:.2f} log rows per lead), "
          f"funnelcli conversion, median of {args.repeat} runs\n")
    print(f"{'shape':<6} {'rows':>10} {'MB':>6} {'median s':>9} {'vs wide':>8} {'peak MB':>8}  target")
    base = statistics.median(walls["wide"])
    for name in names:
        files = commands[name][1]
        rows = sum(expected["rows"][f.name] for f in files)
        size = sum(os.path.getsize(f) for f in files) / 1e6
        median = statistics.median(walls[name])
        target = ""
        if name != "wide":
            met = median <= 2 * base
            ok &= met
            target = f"{'ok' if met else 'MISSED'} (<= 2.00)"
        print(f"{name:<6} {rows:>10,} {size:>6.0f} {median:>9.2f} {median / base:>8.2f} {peaks[name]:>8.0f}  {target}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="run only this command (conversion, purgatory, trends, report)")
    parser.add_argument("--shapes", action="store_true",
                        help="time conversion on one funnel of --rows leads as a wide export, a log and a join")
    parser.add_argument("--list", action="store_true",
                        help="time the stuck list of --rows leads as a table against -f text (target: at most 2x)")
    args = parser.parse_args()
    if args.shapes:
        return shapes(args)
    if args.list:
        return stuck_list(args)
    path = str(make_export(args.rows))
    baselines = str(ROOT / "benchmarks" / "baselines.py")
    commands = {
        "baseline read_csv": [sys.executable, "-c", f"import pandas; pandas.read_csv({path!r}, engine='pyarrow')"],
        **{f"baseline {engine}": [sys.executable, baselines, engine, path] for engine in ("duckdb", "polars") if _has(engine)},
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
    if "baseline duckdb" in walls:  # issue 13: conversion at most 0.8x and report at most 1.0x one DuckDB query
        duck = statistics.median(walls["baseline duckdb"])
        print(f"\nagainst the same funnel as one DuckDB query ({duck:.2f} s):")
        for name, limit in (("conversion", 0.8), ("report", 1.0)):
            if name in walls:
                ratio = statistics.median(walls[name]) / duck
                print(f"{name:<22} {ratio:>9.2f}x  {'ok' if ratio <= limit else 'MISSED'} (<= {limit:.2f})")
    for name, limit in MEMORY_TARGETS.get(args.rows, {}).items():  # issue 13: peak memory
        if name in peaks:
            ok = peaks[name] <= limit
            missed |= not ok
            print(f"peak of {name:<14} {peaks[name]:>8.0f} MB  {'ok' if ok else 'MISSED'} (<= {limit:,} MB)")
    if args.rows == 100_000 and "report" in walls:  # issue 13: a 100,000-lead report under 0.7 s
        median = statistics.median(walls["report"])
        missed |= median >= 0.7
        print(f"report at 100,000 leads {median:.2f} s  {'ok' if median < 0.7 else 'MISSED'} (< 0.70 s)")
    if not args.only or args.only == "cache":
        missed |= not cache_runs(path, args.repeat)
    if not args.only or args.only == "parquet":
        parquet_runs(path, args.repeat)
    pandas_import = statistics.median(help_walls["import pandas"])
    help_time = statistics.median(help_walls["funnelcli --help"])
    ok = help_time < 0.4 * pandas_import
    missed |= not ok
    print(f"\n{'import pandas':<22} {pandas_import:>9.3f}")
    print(f"{'funnelcli --help':<22} {help_time:>9.3f} {help_time / pandas_import:>7.2f}  {'ok' if ok else 'MISSED'} (< 0.40)")
    return 1 if missed else 0


# issue 13: peak memory of a command at --rows leads, in MB
MEMORY_TARGETS = {5_000_000: {"conversion": 1200, "report": 1200}, 20_000_000: {"conversion": 2500, "report": 2500}}


def cache_runs(path: str, repeat: int) -> bool:
    """Time `conversion --cache` on an empty cache folder, then a second command (report) on the
    same inputs; print the second's time against the first's (issue 13: at most 0.3x)."""
    firsts, seconds = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            env = {"FUNNELCLI_CACHE_DIR": folder}
            firsts.append(timed(funnelcli("conversion", path, "--cache", "-q", "-f", "text"), env)[0])
            seconds.append(timed(funnelcli("report", path, "--cache", "-q", "-f", "text"), env)[0])
    first, second = statistics.median(firsts), statistics.median(seconds)
    ok = second <= 0.3 * first
    print(f"\n--cache: first run (conversion, stores) {first:.2f} s; second (report, loads) {second:.2f} s "
          f"= {second / first:.2f}x  {'ok' if ok else 'MISSED'} (<= 0.30)")
    return ok


PARQUET_WRITER = """
import os, sys
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

path, target = sys.argv[1:]
table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(newlines_in_values=True),
                       convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
pq.write_table(table, target + ".partial")
os.replace(target + ".partial", target)
"""


def parquet_runs(path: str, repeat: int) -> None:
    """Time conversion on the same export written as Parquet (made once, beside the CSV)."""
    target = Path(path).with_suffix(".parquet")
    if not target.exists():
        # made in a child process: a command forked from this one would start with its memory in
        # its peak (ru_maxrss counts the pages shared at fork), and a 5M-lead table is 2 GB
        print(f"making {target}...", file=sys.stderr)
        subprocess.run([sys.executable, "-c", PARQUET_WRITER, path, str(target)], check=True)
    walls = [timed(funnelcli("conversion", str(target), "-q", "-f", "text")) for _ in range(repeat)]
    print(f"conversion of the Parquet export ({os.path.getsize(target) / 1e6:.0f} MB): "
          f"{statistics.median(w for w, _ in walls):.2f} s, peak {max(m for _, m in walls):.0f} MB")


def _has(module: str) -> bool:
    """Whether a benchmark-only baseline is installed (pip install -e '.[bench]')."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


def stuck_list(args: argparse.Namespace) -> int:
    """Time `purgatory --list` as a table (what a terminal gets) against -f text (issue 12: at most 2x)."""
    path = str(make_export(args.rows))
    commands = {fmt: funnelcli("purgatory", path, "--list", "-q", "-f", fmt) for fmt in ("text", "table")}
    walls: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, float] = {name: 0.0 for name in commands}
    for rep in range(args.repeat):
        for name in list(commands)[rep % 2:] + list(commands)[:rep % 2]:
            wall, peak = timed(commands[name])
            walls[name].append(wall)
            peaks[name] = max(peaks[name], peak)
    rows = subprocess.run(funnelcli("purgatory", path, "--list", "-q", "-f", "csv"), capture_output=True, text=True,
                          env=CHILD_ENV).stdout.count("\n") - 1
    base = statistics.median(walls["text"])
    print(f"{args.rows:,} leads, a stuck list of {rows:,} leads, median of {args.repeat} runs\n")
    print(f"{'format':<8} {'median s':>9} {'ratio':>7} {'peak MB':>8}  target")
    table = statistics.median(walls["table"])
    print(f"{'text':<8} {base:>9.2f} {1:>7.2f} {peaks['text']:>8.0f}")
    print(f"{'table':<8} {table:>9.2f} {table / base:>7.2f} {peaks['table']:>8.0f}  {'ok' if table <= 2 * base else 'MISSED'} (<= 2.00)")
    return 0 if table <= 2 * base else 1


if __name__ == "__main__":
    sys.exit(main())
