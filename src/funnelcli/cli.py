"""The command line: Click commands over the library. Only this module knows streams and exit codes.

Exit codes: 0 ran clean; 1 ran and found problems (validation errors, missed targets with
--fail-on-miss); 2 could not run (usage, unreadable input, invalid definitions, internal error).
pandas is imported inside the commands that read exports, never at module level: `--help` and
`validate` stay fast.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import shlex
import shutil
import sys
from dataclasses import dataclass

import click

from funnelcli import __version__
from funnelcli.errors import ExitCode, FunnelError, option
from funnelcli.measures.periods import COMPARES, COUNTINGS, DIGEST_PERIODS, PERIODS, PLAN_PERIODS
from funnelcli.output.files import format_for_path
from funnelcli.output.problems import PROBLEM_FORMATS
from funnelcli.output.render import FORMATS  # the output package imports nothing heavy at module level
from funnelcli.output.smtp import TLS_MODES

DEFAULT_DEFINITIONS = "definitions"
# where an option's name differs from the API's keyword that errors name
FLAGS = {"markets": "--market", "cohort_stage": "--from-stage", "stage": "--stage"}


def _name_the_variable(exc: click.BadParameter) -> None:
    """Add the environment variable a bad value came from to its error ('--smtp-port' alone names
    an option the crontab never set)."""
    from click.core import ParameterSource

    param, ctx = exc.param, exc.ctx
    if param is None or ctx is None or not isinstance(param.envvar, str):
        return
    if ctx.get_parameter_source(param.name) == ParameterSource.ENVIRONMENT:
        exc.message = f"{exc.message} (from ${param.envvar})"


class FunnelGroup(click.Group):
    """A Click group that turns funnelcli's errors into messages and exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FunnelError as exc:
            say(f"error: {exc.message(cli=True, flags=FLAGS)}")
            ctx.exit(exc.exit_code)
        except click.BadParameter as exc:
            _name_the_variable(exc)
            raise
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("funnelcli: interrupted", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except BrokenPipeError:
            # The reader (head, less) went away: that's not an error of ours.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(ExitCode.OK)
        except Exception as exc:
            if os.environ.get("FUNNELCLI_DEBUG"):
                raise
            say(f"internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in funnelcli. Rerun with FUNNELCLI_DEBUG=1 for a traceback, and report it.")
            ctx.exit(ExitCode.CANNOT_RUN)


@click.group(cls=FunnelGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="funnelcli")
def cli() -> None:
    """Funnel metrics from CRM lead exports, by definitions kept in YAML.

    Loads a CSV export (HubSpot, Salesforce, Pipedrive...), applies the lead, stage and market
    definitions that sales and marketing agreed, and reports conversion stage by stage.

    \b
    Examples:
      funnelcli conversion samples/hubspot-contacts.csv
      funnelcli conversion leads.csv -d definitions/ --by owner -f markdown
      funnelcli validate definitions/ --data leads.csv -f github

    Exit codes: 0 ran clean, 1 found problems, 2 could not run.
    """


# --------------------------------------------------------------------------------------------
# Options shared by the report commands


@dataclass
class RunOptions:
    export: str
    definitions: tuple[str, ...]
    as_of: dt.date | None
    since: dt.date | None
    until: dt.date | None
    by: str | None
    markets: tuple[str, ...]
    fmt: str | None
    output: str | None
    encoding: str | None
    delimiter: str | None
    strict: bool
    quiet: bool
    joins: dict = dataclasses.field(default_factory=dict)  # join name -> file (--join NAME=PATH)
    raw_csv: bool = False  # -f csv without the formula guard (--raw-csv)
    table: str | None = None  # the table -f csv writes (--table; 'list' lists them)
    columns: tuple[str, ...] | None = None  # the columns the human formats show (--columns)
    pager: bool = False  # page the output on a terminal (--pager)
    overrides: tuple[str, ...] = ()  # --set KEY=VALUE, applied to the definitions
    cache: bool = False  # reuse a lead table loaded before (--cache, FUNNELCLI_CACHE=1)


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-03-31") from None
    if not dt.date(1970, 1, 2) <= day <= dt.date(2199, 12, 31):
        raise click.BadParameter(f"{value!r}: give a date between 1970-01-02 and 2199-12-31")
    return day


def _columns(ctx, param, value):
    """--columns a,b,c -> ('a', 'b', 'c'); 'all' -> ('all',)."""
    if value is None:
        return None
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if not names:
        raise click.BadParameter("name the columns, comma-separated (e.g. stuck,median_days), or 'all'")
    return names


def _output(ctx, param, value):
    """-o /dev/stdout (and its other names) -> '-': the report printed, as without -o (writing it
    through a rename could only replace the file a shell redirected stdout to, or fail on a pipe)."""
    return "-" if value in ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1") else value


output_option = click.option("-o", "--output", callback=_output, metavar="FILE",
                             help="Write to FILE (atomically: a failed run leaves it untouched); - or /dev/stdout prints it.")
columns_option = click.option("--columns", callback=_columns, metavar="LIST",
                              help="The columns tables show: comma-separated names (stuck,median_days) or 'all' "
                                   "(default: a compact set; csv and json have all).")


def _delimiter(ctx, param, value):
    if value is None:
        return None
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    value = named.get(value.lower(), value)
    if len(value) != 1:
        raise click.BadParameter("give one character, or tab, comma, semicolon, pipe")
    return value


def _definitions_paths(value) -> tuple[str, ...]:
    if value:
        return tuple(value)
    env = os.environ.get("FUNNELCLI_DEFINITIONS")
    return tuple(env.split(os.pathsep)) if env else (DEFAULT_DEFINITIONS,)


def _joins(ctx, param, value) -> dict[str, str]:
    bound: dict[str, str] = {}
    for item in value or ():
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path:
            raise click.BadParameter(f"{item!r}: give NAME=PATH, the join's name in the definitions and its file")
        if name.strip() in bound:
            raise click.BadParameter(f"join {name.strip()!r} is bound twice")
        bound[name.strip()] = path
    return bound


def join_option(f):
    return click.option("--join", "joins", multiple=True, callback=_joins, metavar="NAME=PATH",
                        help="The file of a join the definitions name (repeatable); default: the join's path:.")(f)


def definitions_option(f):
    return click.option(
        "-d", "--definitions", "definitions", multiple=True, metavar="PATH",
        help="Definitions file or folder (repeatable). Default: $FUNNELCLI_DEFINITIONS, then ./definitions.",
    )(f)


def _one_by(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> str | None:
    """Return the one --by given (None: none); a second is a usage error, not silently the one kept."""
    if len(values) > 1:
        raise click.BadParameter(f"one field at a time (got {', '.join(repr(v) for v in values)}); "
                                 "a breakdown by two fields is not supported", ctx=ctx, param=param)
    return values[0] if values else None


def report_options(f=None, *, by: bool = True):
    """Add the options every report command takes, and pass them on as one RunOptions. A command
    that has no breakdown takes `@report_options(by=False)`: it is not offered --by."""
    if f is None:
        return functools.partial(report_options, by=by)
    options = [
        click.argument("export", metavar="EXPORT"),
        definitions_option,
        join_option,
        click.option("--as-of", callback=_date, metavar="DATE", help="Report as of this date (default: the latest date in the export)."),
        click.option("--since", callback=_date, metavar="DATE", help="Only cohorts entering the first stage on or after DATE."),
        click.option("--until", callback=_date, metavar="DATE", help="Only cohorts entering the first stage on or before DATE."),
        *([click.option("--by", metavar="FIELD", multiple=True, callback=_one_by,
                        help="Break down by a field: owner, source, market, any mapped column.")] if by else []),
        click.option("--market", "markets", multiple=True, metavar="NAME", help="Only leads in this market (repeatable; 'out of market' too)."),
        click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), help="Output format (default: table on a terminal, else text; or from -o's extension)."),
        output_option,
        click.option("--encoding", metavar="ENC", help="The text encoding of a file without a byte-order mark (default UTF-8); a mark names its file's own."),
        click.option("--delimiter", callback=_delimiter, metavar="CHAR", help="Field delimiter (default: sniffed from , ; or tab)."),
        click.option("--strict", is_flag=True, help="Exit 2 if any row is excluded or has a data-quality notice (dates out of order, a non-number); "
                     "a report footer and a log's re-entries and moves back pass."),
        click.option("-q", "--quiet", is_flag=True, help="No notices on stderr; errors only."),
        click.option("--raw-csv", is_flag=True, help="With -f csv: text cells as they are (no apostrophe before =, +, -, @), for pipelines, not spreadsheets."),
        click.option("--table", metavar="NAME", help="With -f csv: write this table (default: the command's main one); --table list lists them."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="What-if: change a value of the definitions for this run (repeatable), e.g. stages.SAL.sla_days=5, targets.MQL->SAL=0.7."),
        click.option("--cache", is_flag=True, envvar="FUNNELCLI_CACHE",
                     help="Reuse the lead table an earlier run loaded from the same files and definitions ($FUNNELCLI_CACHE=1); for cron jobs running several reports."),
        click.option("--pager", is_flag=True, help="On a terminal, show the report through a pager ($PAGER, else less); never in a pipe."),
        columns_option,
    ]

    @functools.wraps(f)
    def wrapper(export, definitions, joins, as_of, since, until, markets, fmt, output, encoding, delimiter, strict, quiet,
                raw_csv, table, pager, columns, overrides, cache, by=None, **rest):
        if since and until and since > until:
            raise click.UsageError(f"--since {since} is after --until {until}")
        if since and as_of and since > as_of:  # no lead can have entered by the as-of date
            raise click.UsageError(f"--since {since} is after --as-of {as_of}")
        opts = RunOptions(export, _definitions_paths(definitions), as_of, since, until, by, tuple(markets),
                          fmt, output, encoding, delimiter, strict, quiet, joins, raw_csv, table, columns, pager,
                          tuple(overrides), cache)
        chosen = output_format(opts)  # -o report.xlsx is refused before the run
        if table and table != "list" and chosen != "csv":
            raise click.UsageError("--table goes with -f csv (json holds every table; the other formats show them all)")
        check_output(opts)  # before the run: a report must never replace an input
        return f(opts, **rest)

    for add in reversed(options):
        wrapper = add(wrapper)
    return wrapper


# --------------------------------------------------------------------------------------------
# The pipeline: definitions -> loading -> engine -> report -> output


def say(message: str) -> None:
    """Print a message on stderr as 'funnelcli: ...', its control characters written out line by
    line: a file name or value quoted in it never colours the terminal or sets its title."""
    from funnelcli.errors import visible

    click.echo("funnelcli: " + "\n".join(visible(line) for line in message.split("\n")), err=True)


def note(opts_quiet: bool, message: str) -> None:
    if not opts_quiet:
        say(message)


def load_funnel(opts: RunOptions, cohort_stage: str | None = None):
    """Return the funnel at the as-of date, after printing its data-quality findings on stderr.

    `cohort_stage` (trends --from-stage) is the stage whose entry dates --since/--until select.
    """
    from funnelcli import api
    from funnelcli.output.progress import progress

    defs = api.load_definitions(opts.definitions, opts.overrides)
    check_joined_output(opts, defs)
    with progress(f"funnelcli: reading {'stdin' if opts.export == '-' else opts.export}", sys.stderr, opts.quiet):
        f = api.run(opts.export, defs, as_of=opts.as_of, since=opts.since, until=opts.until, markets=opts.markets,
                    cohort_stage=cohort_stage, encoding=opts.encoding, delimiter=opts.delimiter, strict=opts.strict,
                    joins=opts.joins, cache=opts.cache)
    for finding in f.findings:  # an accounting line names its own file
        where = "" if finding.kind == "accounting" else f"{f.export}: "
        note(opts.quiet, where + finding.text(cli=True, flags=FLAGS))
    f.option_words = FLAGS  # the report's Data: lines name options as stderr does
    return f


def output_format(opts: RunOptions) -> str:
    if opts.fmt:
        return opts.fmt
    if opts.output:
        return format_for_path(opts.output)
    return "table" if _stdout_is_terminal() else "text"


def echo_out(text: str) -> None:
    """Print the payload. If the reader has gone (`| head`), drop the rest of the output and go
    on, so the command still exits with what it found; if stdout can't encode a character,
    print a replacement rather than fail. A closed or full stdout is an error (exit 2)."""
    _require_stdout()
    try:
        try:
            click.echo(text, nl=False)
        except UnicodeEncodeError:
            encoding = getattr(sys.stdout, "encoding", None) or "ascii"
            click.echo(text.encode(encoding, "replace").decode(encoding), nl=False)
        sys.stdout.flush()  # a full disk or a closed descriptor shows here, not at exit
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError) as exc:  # ENOSPC (>/dev/full), EBADF; ValueError: stdout closed
        _discard_stdout()
        raise FunnelError(f"cannot write to standard output: {getattr(exc, 'strerror', None) or exc}; "
                          f"write the report to a file with {option('output')}FILE") from None


def _stdout_is_terminal() -> bool:
    """Return whether stdout is a terminal (False when it is closed: `>&-` leaves it None)."""
    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except (OSError, ValueError):
        return False


def _require_stdout() -> None:
    """Raise when the command started with stdout closed (>&-): nothing can be printed."""
    if sys.stdout is None:
        raise FunnelError(f"standard output is closed: nothing can be printed; write the report to a file with {option('output')}FILE")


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that Python's flush at exit can't fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        sys.stdout = None


def check_output(opts: RunOptions) -> None:
    """Refuse an -o that is an input of the run (the export, a definitions file, a joined file
    named on the command line) or not a regular file."""
    from funnelcli.output.files import check_output as check

    inputs = [opts.export, *opts.joins.values()]
    for path in opts.definitions:
        try:
            inputs += [os.path.join(path, name) for name in os.listdir(path)] if os.path.isdir(path) else [path]
        except OSError:  # an unreadable folder: the run says so when it loads the definitions
            continue
    check(opts.output, inputs)


def check_joined_output(opts: RunOptions, *loaded) -> None:
    """Refuse an -o that is a file the loaded definitions' joins read (a join's default path: too,
    which the command line doesn't name), before the run: whether it reads them or its cache."""
    from funnelcli.output.files import check_output as check

    if opts.output not in (None, "-"):
        check(opts.output, [(opts.joins or {}).get(j.name) or j.path for defs in loaded for j in defs.joins])


def write_output(text: str, path: str | None, pager: bool = False) -> None:
    """Write to stdout (through a pager if asked and stdout is a terminal), or to `path`
    atomically (a failed run leaves it untouched)."""
    from funnelcli.output.files import write_atomic

    if (path is None or path == "-") and pager and sys.stdout is not None and sys.stdout.isatty():
        os.environ.setdefault("LESS", "FRSX")  # colours pass, long lines scroll sideways, short output just prints
        click.echo_via_pager(text)
    elif path is None or path == "-":
        echo_out(text)
    else:
        write_atomic(text, path)


def emit(report, opts: RunOptions, stdout: bool = True) -> None:
    """Write the report to -o FILE (atomically) and, unless stdout is False, to stdout without -o."""
    from funnelcli import api
    from funnelcli.output.progress import progress

    if opts.output is None and not stdout:
        return
    if opts.output is None:
        _require_stdout()  # every command checked its -o before the run
    fmt = output_format(opts)
    color = (fmt == "table" and opts.output is None and _stdout_is_terminal() and not os.environ.get("NO_COLOR")
             and os.environ.get("TERM") != "dumb")  # a dumb terminal shows escape codes as text: no colour, no bold
    width = None
    if fmt in ("table", "text") and opts.output is None and _stdout_is_terminal():
        width = shutil.get_terminal_size().columns  # a table never wider than the terminal, no number cut
    ascii_only = opts.output is None and not _can_encode(sys.stdout, "▁█─━")
    if opts.table == "list":  # the tables -f csv can write, the main one first
        names = [t.name for t in report.tables if t.machine]
        main = report.csv_table().name if names else None
        echo_out("".join(f"{n}{'  (main: -f csv writes it by default)' if n == main else ''}\n" for n in [main, *[n for n in names if n != main]] if n))
        return
    if fmt == "csv" and opts.table is None and not any(t.machine for t in report.tables):
        # no table to write (trends of an export with no dates): an empty file, and why on stderr
        note(opts.quiet, f"no table to write: {report.notes[0] if report.notes else 'the report is empty'}")
        write_output("", opts.output, opts.pager)
        return
    try:
        with progress("funnelcli: writing the report", sys.stderr, opts.quiet):
            text = api.render(report, fmt, color=color, width=width, ascii_only=ascii_only, csv_guard=not opts.raw_csv,
                              table=opts.table, columns=opts.columns)
    except KeyError as exc:  # --table names no table of this report
        raise click.UsageError(exc.args[0]) from None
    write_output(text, opts.output, opts.pager)


def _can_encode(stream, text: str) -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


# --------------------------------------------------------------------------------------------
# Commands


def fail_on_miss_option(f):
    return click.option("--fail-on-miss", is_flag=True,
                        help="Exit 1 when a target in the definitions is missed (after the report is written).")(f)


def finish(report, opts: RunOptions, fail_on_miss: bool) -> None:
    """Exit 1 if a target was missed and the user asked to fail on it."""
    from funnelcli import api

    missed = api.missed_targets(report)
    if missed:
        # with --fail-on-miss the line is said even with -q: cron mails a failing job only when it prints
        note(opts.quiet and not fail_on_miss, f"missed target{'s' if len(missed) != 1 else ''}: {', '.join(missed)}")
        if fail_on_miss:
            sys.exit(ExitCode.PROBLEMS)


@cli.command()
@report_options
@fail_on_miss_option
def conversion(opts: RunOptions, fail_on_miss: bool) -> None:
    """Stage-by-stage conversion: reached, converted, rates, exits, stuck, velocity.

    For each stage: leads that reached it, converted to the next stage, step and cumulative
    rates, exited (by exit), stuck past the SLA, in progress, and median / p75 / p90 days to the
    next stage. Counting is by cohort (leads grouped by when they reached the first stage).

    \b
    Examples:
      funnelcli conversion samples/hubspot-contacts.csv
      funnelcli conversion leads.csv --by source --since 2026-01-01
      funnelcli conversion leads.csv --as-of 2026-06-30 -f csv -o june.csv
      funnelcli conversion leads.csv --fail-on-miss -q    # exit 1 when a target is missed
    """
    from funnelcli import api

    f = load_funnel(opts)
    report = api.conversion(f, opts.by)
    emit(report, opts)
    finish(report, opts, fail_on_miss)


@cli.command()
@report_options
@click.option("--stage", metavar="STAGE", help="Only this stage.")
@click.option("--list", "show_list", is_flag=True, help="List the stuck leads themselves, oldest first.")
@click.option("--min-days", type=click.FloatRange(min=0, max=36_500), metavar="N", help="With --list: only leads N or more days in the stage.")
def purgatory(opts: RunOptions, stage, show_list, min_days) -> None:
    """Leakage and purgatory: who is stuck where, for how long, on whose desk, and who left.

    Per stage: reached, converted, exited (per exit), stuck past the SLA, in progress, the stuck
    share, days stuck and value at risk; the two purgatories (leads never accepted, and leads
    touched and dropped, from a stage's activity rule); the age of the backlog in multiples of
    the SLA; leakage through each exit. --by ranks owners (or any field) by stuck leads; --list
    prints the stuck leads to chase, in any format (csv goes back into a CRM or spreadsheet).

    \b
    Examples:
      funnelcli purgatory samples/hubspot-contacts.csv --by owner
      funnelcli purgatory leads.csv --stage SAL --list --min-days 30 -f csv -o chase.csv
    """
    from funnelcli import api

    if min_days is not None and not show_list:
        raise click.UsageError("--min-days goes with --list")
    f = load_funnel(opts)
    emit(api.purgatory(f, opts.by, stage, show_list, min_days), opts)


@cli.command()
@report_options(by=False)  # markets are the breakdown; per market by stage: conversion --by market
def markets(opts: RunOptions) -> None:
    """Markets: conversion per target market, and the market fit of each stage.

    Each lead is in the first market whose rule it meets, else "out of market". Per market: the
    leads reaching each stage and the step rates; per stage: the share of its leads in any target
    market. conversion, purgatory and trends take --by market; every command takes --market NAME.

    \b
    Examples:
      funnelcli markets samples/hubspot-contacts.csv
      funnelcli markets leads.csv --since 2026-01-01 -f markdown
    """
    from funnelcli import api

    f = load_funnel(opts)
    emit(api.markets(f), opts)


@cli.command()
@report_options
@click.option("--period", type=click.Choice(PERIODS), default="month", show_default=True,
              help="Calendar periods (weeks start on Monday).")
@click.option("--last", type=click.IntRange(min=1), metavar="N", help="Only the last N periods.")
@click.option("--counting", type=click.Choice(COUNTINGS), default="cohort", show_default=True,
              help="cohort: leads by the period they entered the first stage, with rates; flow: leads entering each stage per period.")
@click.option("--from-stage", metavar="STAGE", help="Cohorts by entry into this stage instead of the first.")
@click.option("--window", "window_days", type=click.FloatRange(min=0, min_open=True, max=36_500), metavar="DAYS",
              help="Conversion window for every transition, overriding window_days in the definitions.")
def trends(opts: RunOptions, period, last, counting, from_stage, window_days) -> None:
    """Trends by month (or week, quarter): cohorts by period with immature ones marked, or flow per period.

    Cohort counting (default): a row per period of entering the first stage (or --from-stage):
    cohort size, how many reached each later stage so far, step and cumulative rates (marked *
    while the cohort is too young for the rate to be final), and median days per transition.
    Flow counting: how many leads entered each stage in each period, whoever they are.
    Both end with each measure's latest change and a sparkline.

    \b
    Examples:
      funnelcli trends samples/hubspot-contacts.csv
      funnelcli trends leads.csv --period week --last 12 --counting flow
      funnelcli trends leads.csv --from-stage SQL --window 60 --by source -f csv
    """
    from funnelcli import api

    if counting == "flow" and (window_days is not None or from_stage):
        raise click.UsageError("--window and --from-stage go with --counting cohort")
    since, until = opts.since, opts.until
    if counting == "flow":  # --since/--until bound the periods, not the cohorts
        opts = dataclasses.replace(opts, since=None, until=None)
    f = load_funnel(opts, from_stage)
    if window_days is not None and window_days.is_integer():
        window_days = int(window_days)  # --window 10 as window_days: 10 is written: 10 days, not 10.0
    emit(api.trends(f, period, counting, window_days, last, opts.by, since, until), opts)


@cli.command()
@report_options(by=False)  # the digest has its own breakdowns (top owners)
@click.option("--period", type=click.Choice(DIGEST_PERIODS), default="week", show_default=True,
              help="The period of the headline numbers and of the cohort trend.")
@click.option("--compare", type=click.Choice(COMPARES), default="previous", show_default=True,
              help="Compare with the previous period.")
@fail_on_miss_option
@click.option("--email-to", metavar="ADDR[,ADDR]", help="Mail the report (text and HTML) to these addresses instead of printing it.")
@click.option("--email-from", metavar="ADDR", envvar="FUNNELCLI_EMAIL_FROM", help="Sender (default: $FUNNELCLI_EMAIL_FROM, else the SMTP user if it is an address, else funnelcli@ this machine's name).")
@click.option("--subject", metavar="TEXT", help="Mail subject (default: the report's title, period and as-of date).")
@click.option("--smtp-host", metavar="HOST", envvar="FUNNELCLI_SMTP_HOST", default="localhost", show_default=True,
              help="SMTP server ($FUNNELCLI_SMTP_HOST).")
@click.option("--smtp-port", metavar="PORT", type=click.IntRange(1, 65535), envvar="FUNNELCLI_SMTP_PORT",
              help="SMTP port ($FUNNELCLI_SMTP_PORT; default 587 starttls, 465 tls, 25 none).")
@click.option("--smtp-user", metavar="USER", envvar="FUNNELCLI_SMTP_USER", help="SMTP login ($FUNNELCLI_SMTP_USER).")
@click.option("--smtp-password", metavar="PASSWORD", envvar="FUNNELCLI_SMTP_PASSWORD",
              help="SMTP password; prefer $FUNNELCLI_SMTP_PASSWORD, which no process list shows.")
@click.option("--smtp-tls", type=click.Choice(TLS_MODES), envvar="FUNNELCLI_SMTP_TLS", default="starttls",
              show_default=True, help="STARTTLS, implicit TLS, or none ($FUNNELCLI_SMTP_TLS).")
@click.option("--smtp-timeout", metavar="SECONDS", type=click.FloatRange(0, 3600, min_open=True), envvar="FUNNELCLI_SMTP_TIMEOUT",
              default=60, show_default=True, help="One deadline for the whole send, however slowly the server answers ($FUNNELCLI_SMTP_TIMEOUT).")
def report(opts: RunOptions, period, compare, fail_on_miss, email_to, email_from, subject,
           smtp_host, smtp_port, smtp_user, smtp_password, smtp_tls, smtp_timeout) -> None:
    """The weekly summary: one digest for the heads of sales and marketing, for cron.

    Headline numbers for the last whole period (new leads per stage) and the rates of the latest
    mature cohorts, each against the previous period; the stage-by-stage conversion; the
    purgatory summary with the top owners by stuck leads; the last six periods of the cohort
    trend; targets met and missed; and where every row of the export went.

    With --email-to the report is mailed (a text and an HTML part) and nothing is printed, so a
    cron job stays quiet on success. Exit 0 sent/printed, 1 a target missed (with
    --fail-on-miss), 2 could not run or could not send (the -o file is still written).

    \b
    Examples:
      funnelcli report samples/hubspot-contacts.csv
      funnelcli report leads.csv -f markdown >> "$GITHUB_STEP_SUMMARY"
      funnelcli report leads.csv -q --email-to sales@example.com,marketing@example.com
    """
    from funnelcli import api

    recipients = []
    if email_to is not None:  # checked before the run (an empty one too: a crontab's unset variable): a header must not forge others, no address is dropped
        from funnelcli.output import mail  # the email package: imported only to mail

        for hint, check, value in (("--email-to", mail.parse_recipients, email_to), ("--email-from", mail.parse_sender, email_from),
                                   ("--subject", mail.check_subject, subject)):
            try:
                checked = check(value) if value is not None else None
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint=hint) from None
            recipients = checked if hint == "--email-to" else recipients
        if opts.fmt and not opts.output:  # -f would be dropped without a word: the mail is text and HTML
            raise click.BadParameter(f"-f {opts.fmt} with --email-to: the mailed report is text and HTML; "
                                     "drop -f, or add -o FILE to also write the report in that format", param_hint="-f")
    f = load_funnel(opts)
    digest = api.digest(f, period, compare)
    emit(digest, opts, stdout=not recipients)
    if recipients:
        where = api.mail_report(digest, recipients, sender=email_from, subject=subject, smtp_host=smtp_host,
                                smtp_port=smtp_port, smtp_user=smtp_user, smtp_password=smtp_password, smtp_tls=smtp_tls,
                                smtp_timeout=smtp_timeout)
        note(opts.quiet, f"mailed the report to {', '.join(recipients)} through {where}")
    finish(digest, opts, fail_on_miss)


def _target(ctx, param, value):
    """--target STAGE=N -> (STAGE, N), N a whole number of at least 1."""
    stage, sep, count = value.rpartition("=")
    try:
        leads = int(count.strip().replace(",", "").replace("_", ""))
    except ValueError:
        leads = 0
    if not sep or not stage.strip() or leads < 1:
        raise click.BadParameter(f"{value!r}: give STAGE=N, the stage and the leads wanted there (a whole number, at least 1), e.g. Won=120")
    return stage.strip(), leads


def _confidence(ctx, param, value):
    """--confidence 80% | 80 | 0.8 -> 0.8."""
    text = str(value).strip().removesuffix("%")
    try:
        level = float(text)
    except ValueError:
        level = -1.0
    if level >= 1 and (str(value).strip().endswith("%") or level < 100):
        level /= 100
    if not 0.5 <= level < 1:
        raise click.BadParameter(f"{value!r}: give a level from 50% up to 99.9%, e.g. 80%, 90% or 0.9")
    return level


@cli.command()
@report_options(by=False)  # --market plans for a market
@click.option("--target", required=True, callback=_target, metavar="STAGE=N", help="The leads wanted at a stage in the period, e.g. Won=120.")
@click.option("--period", type=click.Choice(PLAN_PERIODS), default="quarter", show_default=True,
              help="The period the target is for (the one after the as-of date), and the cohorts' unit.")
@click.option("--cohorts", type=click.IntRange(min=1), default=3, show_default=True, metavar="K",
              help="Take the step rates from the last K cohorts mature for the path to the target stage.")
@click.option("--confidence", callback=_confidence, default="80%", show_default=True, metavar="LEVEL",
              help="The level of each step rate's interval (Wilson score), which gives the range.")
def plan(opts: RunOptions, target, period, cohorts, confidence) -> None:
    """The reverse waterfall: the leads each stage needs for N at a stage in a period.

    For --target Won=120: how many leads must enter each earlier stage for 120 to be won in the
    next quarter (or month), from the step rates of the last K mature cohorts (which ones, the
    header says), with a range from each rate's Wilson score interval carried through the chain,
    and the median days from each stage to the target: when those leads must arrive. Exit 2
    when no cohort is mature yet or a step has no conversion in the cohorts.

    \b
    Examples:
      funnelcli plan samples/hubspot-contacts.csv --target Won=120
      funnelcli plan leads.csv --target SQL=300 --period month --cohorts 6 --confidence 90%
      funnelcli plan leads.csv --target Won=40 --market "Enterprise NA" -f json
    """
    from funnelcli import api

    stage, leads = target
    # a typo in the stage shouldn't cost a long load
    api.load_definitions(opts.definitions, opts.overrides).require_stage(stage, "target")
    f = load_funnel(opts)
    emit(api.plan(f, stage, leads, period, cohorts, confidence), opts)


@cli.command()
@click.argument("export", metavar="EXPORT")
@click.argument("ids", metavar="ID...", nargs=-1, required=True)
@definitions_option
@join_option
@click.option("--as-of", callback=_date, metavar="DATE", help="Explain as of this date (default: the latest date in the export).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="What-if: change a value of the definitions for this run (repeatable), e.g. stages.MQL.sla_days=5.")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), help="Output format (default: table on a terminal, else text; or from -o's extension).")
@output_option
@click.option("--encoding", metavar="ENC", help="The text encoding of a file without a byte-order mark (default UTF-8); a mark names its file's own.")
@click.option("--delimiter", callback=_delimiter, metavar="CHAR", help="Field delimiter (default: sniffed from , ; or tab).")
@click.option("--raw-csv", is_flag=True, help="With -f csv: text cells as they are (no apostrophe before =, +, -, @).")
@click.option("--cache", is_flag=True, envvar="FUNNELCLI_CACHE", help="Reuse the lead table an earlier run loaded ($FUNNELCLI_CACHE=1).")
@columns_option
@click.option("-q", "--quiet", is_flag=True, help="No notices on stderr; errors only.")
def explain(export, ids, definitions, joins, as_of, overrides, fmt, output, encoding, delimiter, raw_csv, cache, columns,
            quiet) -> None:
    """Why a lead is counted where it is: its rows, stages, buckets, exit, market, cohort.

    For each ID (compared as trimmed text, as a run compares ids): its row in the export (or
    the log), each stage with how it was reached (own date, status value, flag, condition, log
    entry, or implied by a later stage) and its own and effective dates, its bucket in each stage
    at the as-of date with the arithmetic, the purgatory rules that apply, its exit and market
    with the rule that matched, its cohort, and whether it is in the report at all (an excluded
    row says why). An ID not in the export is named with the nearest ids. Exit 0 when every ID
    was found, 1 when some were not (the others are explained), 2 when none was.

    \b
    Examples:
      funnelcli explain samples/hubspot-contacts.csv 51003115
      funnelcli explain leads.csv 51003115 51002508 --as-of 2026-06-30
      funnelcli explain leads.csv 51003115 -f json | jq '.leads[0].stages'
    """
    from funnelcli import api

    opts = RunOptions(export, _definitions_paths(definitions), as_of, None, None, None, (), fmt, output, encoding,
                      delimiter, False, quiet, joins, raw_csv, None, columns, False, tuple(overrides), cache)
    output_format(opts)  # -o report.xlsx is refused before the run
    check_output(opts)
    defs = api.load_definitions(opts.definitions, opts.overrides)
    check_joined_output(opts, defs)
    report = api.explain(export, ids, defs, as_of=as_of, encoding=encoding, delimiter=delimiter, joins=joins, cache=cache)
    emit(report, opts)
    missing = api.missing_ids(report)
    if missing:
        # said even with -q: a script asked for these ids
        for line in report.notes[: len(missing)]:
            say(line)
        sys.exit(ExitCode.PROBLEMS)


@cli.command()
@click.argument("export", metavar="EXPORT")
@click.argument("old", metavar="OLD_DEFINITIONS", type=click.Path(exists=True))
@click.argument("new", metavar="NEW_DEFINITIONS", type=click.Path(exists=True))
@join_option
@click.option("--as-of", callback=_date, metavar="DATE", help="Both runs as of this date (default: the latest date in the export, by the old definitions).")
@click.option("--examples", type=click.IntRange(min=0), default=3, show_default=True, metavar="N", help="Example ids per kind of change.")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), help="Output format (default: table on a terminal, else text; or from -o's extension).")
@output_option
@click.option("--encoding", metavar="ENC", help="The text encoding of a file without a byte-order mark (default UTF-8); a mark names its file's own.")
@click.option("--delimiter", callback=_delimiter, metavar="CHAR", help="Field delimiter (default: sniffed from , ; or tab).")
@click.option("--strict", is_flag=True, help="Exit 2 if any row is excluded or has a data-quality notice, under either definitions.")
@click.option("--fail-on-change", is_flag=True, help="Exit 1 when any number, lead or stage changes (after the report is written).")
@click.option("-q", "--quiet", is_flag=True, help="No notices on stderr; errors only.")
@click.option("--raw-csv", is_flag=True, help="With -f csv: text cells as they are (no apostrophe before =, +, -, @).")
@click.option("--table", metavar="NAME", help="With -f csv: write this table (default: stages); --table list lists them.")
@columns_option
def diff(export, old, new, joins, as_of, examples, fmt, output, encoding, delimiter, strict, fail_on_change, quiet,
         raw_csv, table, columns) -> None:
    """The impact of a change of the definitions on one export: old against new.

    Runs the export under OLD_DEFINITIONS and NEW_DEFINITIONS (each a file or a folder) at one
    as-of date and compares them: per stage, reached, converted, exited, stuck, in progress and
    the rates, old and new; each target's goal, actual and status; and the leads that changed
    furthest stage, bucket, exit or market, with example ids. Stages are matched by name ('-' where one side lacks a stage). The first
    line says what changed; -f markdown fits a pull-request comment.

    \b
    Examples:
      funnelcli diff leads.csv main-definitions/ definitions/
      funnelcli diff leads.csv old/ new/ -f markdown -o impact.md
      funnelcli diff leads.csv old/ new/ --fail-on-change -q    # exit 1 when anything changes
    """
    from funnelcli import api

    opts = RunOptions(export, (old, new), as_of, None, None, None, (), fmt, output, encoding, delimiter, strict, quiet, joins,
                      raw_csv, table, columns)
    check_output(opts)
    old_defs, new_defs = api.load_definitions(old), api.load_definitions(new)
    check_joined_output(opts, old_defs, new_defs)
    before, after = api.run_both(export, old_defs, new_defs, as_of=as_of, encoding=encoding, delimiter=delimiter,
                                 strict=strict, joins=joins)
    before.option_words = after.option_words = FLAGS  # the report's Data: lines name options as stderr does
    _diff_findings(before, after, quiet)
    report = api.diff(before, after, examples)
    emit(report, opts)
    if api.changed(report):
        leads = report.data["changed_leads"]["any"]
        numbers, goals = report.data["changed_numbers"], report.data["changed_targets"]
        note(quiet, f"the new definitions change {leads:,} lead{'s' if leads != 1 else ''}, "
                    f"{numbers:,} number{'s' if numbers != 1 else ''} and {goals:,} target{'s' if goals != 1 else ''}")
        if fail_on_change:
            sys.exit(ExitCode.PROBLEMS)


def _diff_findings(before, after, quiet: bool) -> None:
    """Print each run's findings on stderr: once when both runs have it, else naming the side."""
    lines = {side: [("" if x.kind == "accounting" else f"{f.export}: ") + x.text(cli=True, flags=FLAGS) for x in f.findings]
             for side, f in (("old", before), ("new", after))}
    for line in lines["old"]:
        note(quiet, line if line in lines["new"] else f"(old definitions) {line}")
    for line in lines["new"]:
        if line not in lines["old"]:
            note(quiet, f"(new definitions) {line}")


@cli.command()
@click.argument("paths", nargs=-1, metavar="[PATHS]...")
@click.option("--data", metavar="EXPORT", help="Also check the definitions against this export: its header, the values they list, blank columns, dates.")
@click.option("-f", "--format", "fmt", type=click.Choice(PROBLEM_FORMATS), default="text", show_default=True,
              help="text: path:line:col lines; github: GitHub Actions annotations; json: a list.")
@join_option
@click.option("--encoding", metavar="ENC", help="The export's text encoding (with --data).")
@click.option("--delimiter", callback=_delimiter, metavar="CHAR", help="The export's delimiter (with --data).")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too (a value no row has, a blank column, a few unparseable dates).")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
def validate(paths, data, fmt, joins, encoding, delimiter, strict, quiet) -> None:
    """Check definition files, without reading an export (and with --data, against one).

    PATHS are files or folders (default: $FUNNELCLI_DEFINITIONS, then ./definitions, merged as a
    run merges them). A file is checked with the other *.yml and *.yaml files of its folder, as a
    run given the folder merges them (as pre-commit passes changed files), unless several files
    there list stages (separate funnels side by side); '-' reads definitions from stdin. Every
    problem is reported as path:line:col: level: message (rule). Exit 0 when clean, 1 when there
    are errors (with --strict, warnings too), 2 when it could not run.

    \b
    Examples:
      funnelcli validate
      funnelcli validate definitions/ --data leads.csv
      funnelcli validate definitions/targets.yml     # with the files beside it
      funnelcli validate -f github --strict          # in a GitHub Actions step
      cat funnel.yml | funnelcli validate -
    """
    from funnelcli import api
    from funnelcli.output.problems import format_problems

    settings = dict(encoding=encoding, delimiter=delimiter, joins=joins)
    if paths:
        results = api.validate_each(list(paths), data, **settings)
    else:
        results = [api.validate(list(_definitions_paths(paths)), data, **settings)]
    problems = [p for result in results for p in result.problems]
    echo_out(format_problems(problems, fmt))
    errors = sum(len(r.errors) for r in results)
    warnings = sum(len(r.warnings) for r in results)
    if not quiet:
        from funnelcli.errors import visible

        where = ", ".join("<stdin>" if p == "-" else visible(p) for p in (paths or _definitions_paths(paths)))
        if problems:
            say(f"{where}: {errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
                + (" (--strict: warnings fail)" if strict and warnings and not errors else ""))
        else:
            say(f"{where}: definitions are valid")
    if errors or (strict and warnings):
        sys.exit(ExitCode.PROBLEMS)


@cli.command()
@click.argument("export", metavar="EXPORT")
@definitions_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="What-if: change a value of the definitions for this query (repeatable), e.g. stages.SAL.sla_days=5.")
@click.option("--encoding", type=click.Choice(["utf-8", "utf-16", "latin-1"], case_sensitive=False),
              help="The export's text encoding, as DuckDB's reader names it (default utf-8).")
@click.option("--delimiter", callback=_delimiter, metavar="CHAR", help="Field delimiter (default: DuckDB sniffs it).")
def sql(export, definitions, overrides, encoding, delimiter) -> None:
    """Print the stage table of `conversion` as one SQL query, in DuckDB's dialect.

    The query reads EXPORT (it is not read now) and computes what `funnelcli conversion EXPORT`
    computes by the same rules: the rows kept and excluded (a blank id, an unparseable date, a
    repeated id), the waterfall, the as-of date (the latest date), the exits, and per stage
    reached, entered, converted, exited (per exit), stuck, in progress and the days to the next
    stage. A starting point for running the definitions where the data lives (docs/scale.md).

    Simple wide definitions only: a date column per stage, exits by text tests (in, eq,
    contains, matches, present). Others (a status column, flags, a log, joins) exit 2 naming why.
    The query is as of the export's latest date (no replay) and reads a CSV or Parquet file; a
    report footer or a stage-history log read as leads, which a run refuses, it doesn't tell apart.

    \b
    Examples:
      funnelcli sql samples/hubspot-contacts.csv > funnel.sql && duckdb < funnel.sql
      funnelcli sql leads.csv -d definitions/ --set stages.SAL.sla_days=5 > funnel.sql
    """
    from funnelcli import api

    if export == "-" or not os.path.isfile(export):
        raise click.BadParameter("give the export's path: the query reads it by name" if export == "-"
                                 else f"{export!r}: no such file", param_hint="EXPORT")
    if any(c in export for c in "*?[{"):  # DuckDB reads them as a pattern of names: other files too
        raise click.BadParameter(f"{export!r}: DuckDB reads * ? [ {{ in a file name as a pattern of names (and would read "
                                 "other files too): rename or link the file without them", param_hint="EXPORT")
    defs = api.load_definitions(_definitions_paths(definitions), overrides)
    echo_out(api.sql(export, defs, encoding=encoding, delimiter=delimiter))


@cli.command()
def schema() -> None:
    """Print the JSON Schema of definitions files, for editors and CI.

    Editors that use yaml-language-server (VS Code's YAML extension, and others) complete and
    check the keys of a definitions file that names the schema in its first line. The schema
    checks keys and types; `funnelcli validate` checks everything else (stages named, columns,
    conditions, targets).

    \b
    Examples:
      funnelcli schema > definitions/schema.json
      # then, first line of definitions/funnel.yml:
      # yaml-language-server: $schema=schema.json
    """
    from funnelcli import api

    echo_out(api.json_schema())


@cli.command()
@click.argument("export", metavar="EXPORT")
@click.option("-o", "--output", default=DEFAULT_DEFINITIONS, show_default=True, metavar="DIR",
              help="The folder to write funnel.yml in (made if missing; '-' prints the definitions instead).")
@click.option("--encoding", metavar="ENC", help="The text encoding of a file without a byte-order mark (default UTF-8); a mark names its file's own.")
@click.option("--delimiter", callback=_delimiter, metavar="CHAR", help="Field delimiter (default: sniffed from , ; or tab).")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
def init(export, output, encoding, delimiter, quiet) -> None:
    """Write first definitions for an export, commented, for you to check.

    Reads the header and the first 2,000 rows. Recognises HubSpot contacts and deals,
    Salesforce leads and opportunity reports, Pipedrive deals and deal changes; otherwise guesses
    the id, date columns and their formats, a status column, flags, owner and source from the
    names and values. Every guess has a comment saying what to check. Never overwrites a file:
    exit 2 when DIR/funnel.yml exists or DIR holds definitions.

    \b
    Examples:
      funnelcli init leads.csv                  # writes definitions/funnel.yml
      funnelcli init deals.csv -o definitions/pipedrive
      funnelcli init export.csv -o - | less     # print them instead
    """
    from funnelcli import api

    result = api.init(export, output, encoding=encoding, delimiter=delimiter)
    if result.path is None:
        echo_out(result.text)
        return
    folder = os.path.dirname(result.path)
    note(quiet, f"{result.path}: definitions for {result.layout} ({len(result.stages)} stage{'s' if len(result.stages) != 1 else ''}: {', '.join(result.stages)}), "
                f"from {'its' if result.whole else 'the first'} {result.rows_read:,} rows")
    given = (("--encoding", encoding), ("--delimiter", "tab" if delimiter == "\t" else delimiter))
    reading = "".join(f" {flag} {shlex.quote(value)}" for flag, value in given if value)  # the next commands read it so too
    note(quiet, f"check the comments in it, then: funnelcli validate {shlex.quote(folder)} --data {shlex.quote(export)}{reading} && "
                f"funnelcli conversion {shlex.quote(export)} -d {shlex.quote(folder)}{reading}")


def main() -> None:
    try:  # SIGTERM's handler is the entry point's (funnelcli.__main__): set before funnelcli is imported
        if not os.environ.get("FUNNELCLI_DEBUG"):  # stderr carries funnelcli's own messages, which cron mails
            import warnings

            warnings.simplefilter("ignore")
        cli(prog_name="funnelcli")
    except KeyboardInterrupt:  # Ctrl-C outside a command (starting, or while Click reads the options)
        click.echo("funnelcli: interrupted", err=True)
        _exit_now(ExitCode.INTERRUPTED)
    except SystemExit as exc:
        if exc.code == ExitCode.INTERRUPTED:
            _exit_now(ExitCode.INTERRUPTED)
        if (exc.code is None or isinstance(exc.code, int)) and not os.environ.get("FUNNELCLI_DEBUG"):
            # The command is done and its files are written: exit without the interpreter's
            # teardown, which frees a large export's arrays and pandas' modules one by one (a
            # quarter of a second at 1,000,000 leads). FUNNELCLI_DEBUG keeps it, for profilers.
            _exit_now(exc.code or 0)
        raise


def _exit_now(code: int) -> None:
    """Exit at once, the output flushed: after Ctrl-C (its temporary files are gone already) a
    reader thread still in pyarrow is not waited for, and the interpreter's shutdown can't turn
    the exit into a second interruption (a shell then sees 130, not a process killed by SIGINT);
    after a command, nothing is left to free that the system doesn't free faster."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # a closed pipe; None when started with the stream closed
            pass
    os._exit(int(code))
