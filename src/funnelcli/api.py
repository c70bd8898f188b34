"""The Python API: what the command line does, as functions that return plain data.

    definitions -> read_export -> funnel (at an as-of date) -> a report -> render / write / mail

`run()` does the first three in one call, with the data-quality policy of the command line:
findings (excluded rows, notices) come back as `Funnel.findings`, never printed; `strict=True`
turns any of them into an error. Every function raises `FunnelError` (or a subclass) for input it
cannot use, with a message that says what to do. See the README's "Python API" section.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass

from funnelcli import definitions as _definitions
from funnelcli.definitions import Definitions
from funnelcli.errors import FunnelError, Problem, option, words

PathLike = str | os.PathLike


@dataclass(frozen=True)
class Finding:
    """A data-quality fact about a run: rows excluded (with the reason), or a notice about leads."""

    kind: str  # "excluded" (rows that are not leads), "notice" (a fact about leads), "warning", "accounting" (a file's rows)
    message: str  # one line, as the command line prints it: "3 rows with a blank id (rows 2, 5, 9)"
    count: int = 0  # the rows or leads concerned (0 when it is not a count)

    def text(self, cli: bool = False, flags: dict[str, str] | None = None) -> str:
        """Return the finding as one line (naming settings as command-line options when `cli`)."""
        return words(f"excluded {self.message}" if self.kind == "excluded" else self.message, cli, flags)

    def __str__(self) -> str:
        return self.text()


@dataclass(frozen=True)
class Validation:
    """What `validate` found: the definitions (None when they have errors) and every problem."""

    definitions: Definitions | None
    problems: list[Problem]
    paths: tuple[str, ...] = ()  # the files and folders checked together, as given

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level != "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


def _paths(paths: PathLike | Sequence[PathLike]) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def load_definitions(paths: PathLike | Sequence[PathLike] = "definitions", overrides: Sequence[str] = ()) -> Definitions:
    """Return the definitions in `paths` (files or folders, merged); raise DefinitionError with
    every problem found. `overrides` are KEY=VALUE assignments applied after (what-if, without
    editing a file: "stages.SAL.sla_days=5"); the reports' headers say which."""
    defs = _definitions.load(_paths(paths))
    if overrides:
        from funnelcli.definitions.overrides import apply

        defs = apply(defs, list(overrides))
    return defs


def _choice(value, name: str, allowed: Sequence[str]) -> str:
    """Return `value` if it is one of `allowed`; raise FunnelError naming the setting, as the CLI
    refuses such an option (a period of 'Month' counted nonsense periods)."""
    if value not in allowed:
        raise FunnelError(f"{option(name)}{value!r}: give one of {', '.join(repr(a) for a in allowed)}")
    return value


def _day(value, name: str) -> dt.date | None:
    """Return a date given as a date or as ISO text ('2026-03-31'); raise FunnelError naming the
    setting for anything else, as --as-of refuses it."""
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise FunnelError(f"{option(name)}{value!r} is not a date like 2026-03-31") from None


def _as_definitions(defs: Definitions | PathLike | Sequence[PathLike]) -> Definitions:
    return defs if isinstance(defs, Definitions) else load_definitions(defs)


def validate(paths: PathLike | Sequence[PathLike] = "definitions", data: PathLike | None = None, *,
             encoding: str | None = None, delimiter: str | None = None, joins: dict[str, PathLike] | None = None) -> Validation:
    """Return every problem in the definitions (merged as a run merges `paths`; '-' reads them
    from stdin, shown as `<stdin>`); with `data`, also check them against that export and its
    joined files (`joins` binds a join's name to its file, else its default path): each header has
    every column they use; the values conditions and `values:` list occur, no mapped column is
    blank, the date columns parse (sources/datacheck.py); each market is met and overlaps none."""
    from funnelcli.definitions.sets import STDIN, rename_stdin, stdin_as_file

    given = _paths(paths)
    if data is not None and os.fspath(data) == STDIN and STDIN in given:
        raise FunnelError("the definitions and the export cannot both be read from stdin ('-'): give one of them as a file")
    with stdin_as_file(given) as (files, temporary):
        defs, problems = _definitions.validate(files)
        if data is not None and defs is not None:
            problems = sorted(problems + _data_problems(defs, data, encoding, delimiter, joins))
    return Validation(defs, rename_stdin(problems, temporary), tuple(given))


def validate_each(paths: PathLike | Sequence[PathLike], data: PathLike | None = None, **settings) -> list[Validation]:
    """Return a `Validation` per set of definitions that `paths` name, as pre-commit passes changed
    files: a file is checked with the sibling files a run given its folder would merge (unless
    its folder holds separate funnels side by side), a folder as it is, '-' (stdin) alone.
    `settings` are validate's."""
    from funnelcli.definitions.sets import definition_sets

    return [validate(found, data, **settings) for found in definition_sets(_paths(paths))]


def sql(export: PathLike, defs: Definitions | PathLike | Sequence[PathLike] = "definitions", *,
        encoding: str | None = None, delimiter: str | None = None) -> str:
    """Return the stage table of `export` under simple wide definitions as one DuckDB query
    (output/sql.py); raise FunnelError naming what the definitions use that it doesn't write."""
    from funnelcli.output.sql import query
    from funnelcli.sources import sniff

    path = os.fspath(export)
    if not path.casefold().endswith((".parquet", ".pq")) and os.path.isfile(path):
        marked = sniff.file_encoding(path, encoding)  # a byte-order mark names the file's own, as a run reads it
        if marked == "utf-32":
            raise FunnelError(f"{path}: the file is UTF-32 text (its byte-order mark says so), which DuckDB's reader "
                              "doesn't read: save it as UTF-8, or run funnelcli conversion on it")
        # the mark decides, over --encoding: UTF-16 is passed on, UTF-8 is DuckDB's own (with its mark)
        encoding = "utf-16" if marked == "utf-16" else None if marked == "utf-8" else encoding
        if delimiter is None:  # the one a run reads by: DuckDB's own sniffer read a small ';' export with a footer as one column
            _, delimiter, _ = sniff.read_header(sniff.read_head(None, path), path, encoding, None)
    return query(_as_definitions(defs), path, encoding, delimiter)


def json_schema() -> str:
    """Return the JSON Schema (draft-07) of a definitions file, for editors and CI: YAML files
    with `# yaml-language-server: $schema=PATH` get completion and checks of their keys."""
    return _definitions.json_schema()


def _data_problems(defs: Definitions, data: PathLike, encoding: str | None, delimiter: str | None,
                   joins: dict[str, PathLike] | None) -> list[Problem]:
    """Return the problems of the definitions against an export: missing columns (then nothing
    more is checked), then the export's values and dates, and the markets' coverage."""
    from funnelcli.sources import sniff

    raw, name = sniff.open_export(os.fspath(data))
    header, _, _ = sniff.read_header(sniff.read_head(raw, os.fspath(data)), name, encoding, delimiter)
    missing = _definitions.check_headers(defs, [h.strip() for h in header], name)
    missing += _joined_headers(defs, joins, encoding)
    if missing:
        return missing
    from funnelcli.sources.datacheck import check_export

    problems = check_export(os.fspath(data), defs, encoding=encoding, delimiter=delimiter, content=raw)
    if any(p.rule == "no-rows" for p in problems):  # a header only: no values to check, no leads to load
        return problems
    if defs.joins:
        from funnelcli.sources.datacheck import check_joined
        from funnelcli.sources.joins import join_path

        bound = {k: os.fspath(v) for k, v in (joins or {}).items()}
        for join in defs.joins:
            problems += check_joined(join_path(join, bound), join, defs, encoding=encoding)
    if any(p.level == "error" for p in problems):  # the run would refuse the export: these say why, where
        return problems
    if defs.markets or defs.joins:  # the run's own load: a joined file's dates are judged per lead, as the run does
        from funnelcli.sources.joins import SeveralRows

        try:
            loaded = read_export(data, defs, encoding=encoding, delimiter=delimiter, content=raw, joins=joins)
        except SeveralRows as exc:  # the definitions' choice to make: a finding at the join, not a run that failed
            w = next(j.where for j in defs.joins if j.name == exc.join)
            return problems + [Problem(w.path, w.line, w.col, "error", "several-rows", str(exc))]
        if defs.markets:
            from funnelcli.measures.markets import coverage_problems

            problems += coverage_problems(loaded, defs)
    return problems


def _joined_headers(defs: Definitions, joins: dict[str, PathLike] | None, encoding: str | None) -> list[Problem]:
    """Return a problem for each join with no file, and for each column a joined file lacks."""
    from funnelcli.sources import sniff

    bound = {k: os.fspath(v) for k, v in (joins or {}).items()}
    problems = []
    for join in defs.joins:
        path = bound.get(join.name) or join.path
        w = join.where
        if not path or not os.path.exists(path) or os.path.isdir(path):
            why = (f"{path}: is a folder, not a file" if path and os.path.isdir(path)
                   else f"{path}: no such file" if path else "no file")
            problems.append(Problem(w.path, w.line, w.col, "error", "missing-file",
                                    f"join {join.name!r}: {why}; pass {option('join')}{join.name}=PATH or set its path:"))
            continue
        raw, name = sniff.open_export(path)
        with sniff.reading_join(join.name):
            header, _, _ = sniff.read_header(sniff.read_head(raw, path), name, join.encoding or encoding, None)
        problems += _definitions.check_headers(defs, [h.strip() for h in header], name, join.name)
    return problems


def read_export(path: PathLike, defs: Definitions | PathLike | Sequence[PathLike], *, encoding: str | None = None,
                delimiter: str | None = None, content: bytes | None = None, joins: dict[str, PathLike] | None = None,
                cache: bool = False):
    """Return the export at `path` ('-' for stdin) as the canonical lead table (`LoadedExport`),
    with every row of every file accounted for. `joins` binds a join's name to its file (else its
    default path); `content` gives the export's bytes when they are read already. With `cache`,
    a table loaded before from the same files and definitions is reused (engine/cache.py)."""
    from funnelcli import sources

    defs = _as_definitions(defs)
    bound = {k: os.fspath(v) for k, v in (joins or {}).items()}
    unknown = sorted(set(bound) - {j.name for j in defs.joins})
    if unknown:
        names = ", ".join(j.name for j in defs.joins) or "none"
        raise FunnelError(f"{option('join')}{unknown[0]}=...: the definitions have no join {unknown[0]!r} "
                          f"(their joins: {names})")
    path = os.fspath(path)
    # only a regular file has a fingerprint: hashing a pipe's first bytes would consume them
    name = _cache_key(path, defs, bound, encoding, delimiter) if cache and content is None and path != "-" and os.path.isfile(path) else None
    if name is not None:
        from funnelcli.engine import cache as store
        from funnelcli.engine.leads import LoadedExport

        found = store.load(name, LoadedExport)
        if found is not None:
            return found
    fields = sources.read(path, defs, encoding, delimiter, content, bound)
    from funnelcli.engine.leads import lead_table  # after the read: a large export's first part is read while pandas loads
    from funnelcli.sources.fields import release_memory

    loaded = lead_table(fields, defs)
    del fields
    release_memory()  # the fields' date columns and the lead table's temporaries
    if name is not None:
        store.store(name, loaded)
    return loaded


def _cache_key(path: str, defs: Definitions, bound: dict[str, str], encoding: str | None, delimiter: str | None) -> str | None:
    """Return the cache key of a load, or None when a file can't be fingerprinted (then no cache)."""
    from funnelcli.engine import cache
    from funnelcli.sources.joins import join_path

    try:
        files = [join_path(j, bound) for j in defs.joins]
        return cache.key(path, files, defs.digest, {"encoding": encoding, "delimiter": delimiter})
    except (OSError, FunnelError):
        return None


def _replayed_moves(notices: list, moves, as_of) -> list:
    """Return the notices with a log's re-entries and moves back counted by the as-of date, as the
    log cut then tells them."""
    import numpy as np

    from funnelcli.sources.history import MOVES_BACK, REENTRIES

    cut = {i.reason: i for i in moves.until(np.datetime64(as_of.date(), "D")).notices() if i}
    out = []
    for notice in notices:
        if notice.reason in (REENTRIES, MOVES_BACK):
            notice = cut.get(notice.reason)  # none of them by then: no notice
        if notice is not None:
            out.append(notice)
    return out


def _findings(loaded, notices: list) -> list:
    """Return the findings of a load: its excluded rows, its notices, each file's account line and
    the market rules over fields blank for most leads (about the definitions' fit, not bad rows)."""
    findings = [Finding("excluded", i.describe(), i.count) for i in loaded.excluded]
    findings += [Finding("notice", i.describe(), i.count) for i in notices]
    findings += [Finding("accounting", account.sentence(), account.rows_read) for account in loaded.files]
    return findings + [Finding("warning", i.describe(), i.count) for i in loaded.market_gaps]


def funnel(export, defs: Definitions | PathLike | Sequence[PathLike], *, as_of: dt.date | None = None,
           since: dt.date | None = None, until: dt.date | None = None, markets: Sequence[str] = (),
           cohort_stage: str | None = None):
    """Return the `Funnel` of a read export as it stood at `as_of` (default: its latest date).

    `since`/`until` select cohorts by the date they entered the first stage (or `cohort_stage`);
    `markets` keeps only the leads of those markets.
    """
    return _funnel(export, _as_definitions(defs), _day(as_of, "as_of"), _day(since, "since"), _day(until, "until"),
                   markets, cohort_stage)


def _funnel(export, defs: Definitions, as_of, since, until, markets, cohort_stage, take_over: bool = False):
    """funnel(); with `take_over`, the lead table is the funnel's to reuse and can't be used again."""
    from funnelcli.engine.funnel import at_as_of

    stage = defs.require_stage(cohort_stage, "cohort_stage") if cohort_stage else 0
    return at_as_of(export, defs, as_of, since, until, tuple(markets), cohort_stage=stage, take_over=take_over)


def run(export: PathLike, defs: Definitions | PathLike | Sequence[PathLike] = "definitions", *,
        as_of: dt.date | None = None, since: dt.date | None = None, until: dt.date | None = None,
        markets: Sequence[str] = (), cohort_stage: str | None = None, encoding: str | None = None,
        delimiter: str | None = None, strict: bool = False, content: bytes | None = None,
        joins: dict[str, PathLike] | None = None, cache: bool = False):
    """Return the funnel of the export at `path` at the as-of date, with its data-quality
    findings in `Funnel.findings`. `cache` reuses a lead table loaded before (read_export).

    Raises FunnelError when no row is usable, and with `strict` when any row is excluded or has a
    data-quality notice (the message lists them).
    """
    defs = _as_definitions(defs)
    # checked before the export is read: a typo shouldn't cost a long load
    as_of, since, until = _day(as_of, "as_of"), _day(since, "since"), _day(until, "until")
    if cohort_stage:
        defs.require_stage(cohort_stage, "cohort_stage")
    loaded = read_export(export, defs, encoding=encoding, delimiter=delimiter, content=content, joins=joins, cache=cache)
    from funnelcli.sources.csvfile import FOOTER
    from funnelcli.sources.history import MOVES_BACK, REENTRIES

    findings = _findings(loaded, loaded.notices)
    # a report footer is the export's form (every Salesforce report has one), a log's re-entries
    # and moves back are how its deals moved (counted, not faults), and a column a join's name
    # hides is about the definitions (validate warns of it), not the data: --strict passes them
    problems = [f for f, i in zip(findings, loaded.excluded + loaded.notices)
                if i.reason not in (FOOTER, REENTRIES, MOVES_BACK) and i.unit != "column"]
    # a log's or a joined file's excluded rows are in its account line: --strict fails on them too
    problems += [Finding("excluded", i.describe(), i.count) for account in loaded.files for i in account.excluded()]
    if strict and problems:
        raise FunnelError(f"{option('strict')}: {loaded.export} has data-quality problems:\n"
                          + "\n".join(f"  {f}" for f in problems))
    if not loaded.usable.any():
        raise FunnelError(f"{loaded.export}: all {loaded.rows_read:,} {loaded.unit} were excluded:\n"
                          + "\n".join(f"  {f}" for f in findings))
    # the lead table is this run's alone: the funnel's matrices are made in its own, not beside them
    f = _funnel(loaded, defs, as_of, since, until, markets, cohort_stage, take_over=True)
    if f.accounting.replayed_to and loaded.moves is not None:  # a replay tells the moves of the log as cut then
        findings = _findings(loaded, _replayed_moves(loaded.notices, loaded.moves, f.as_of))
    if f.as_of_set_aside is not None:
        findings.append(Finding("notice", f"{option('as_of')} {f.as_of_set_aside:%Y-%m-%d} set aside: the export has no dates, so there is no earlier state to "
                                          "replay; counted as the export stands", 0))
    if f.after_as_of:
        findings.append(Finding("notice", f"{f.after_as_of:,} lead{' has' if f.after_as_of == 1 else 's have'} dates after the "
                                          f"as-of date {f.as_of:%Y-%m-%d}; those events are ignored", f.after_as_of))
    from funnelcli.sources.accounting import issue

    early = issue("whose stage_since date is before the date of an earlier stage", f.stage_since_before(),
                  f.column("_row").to_numpy(), detail="their age in the stage counts from that earlier date")
    if early:
        findings.append(Finding("notice", early.describe(), early.count))
    if as_of is None and loaded.latest_date is not None and loaded.latest_date.date() > dt.date.today():
        where = f" ({loaded.latest_where})" if loaded.latest_where else ""
        findings.append(Finding("warning", f"the latest date in the export, {loaded.latest_date:%Y-%m-%d}{where}, is in the future; "
                                           f"a mistyped date sets the as-of date: check it, or pass {option('as_of')}"))
    if f.accounting.in_report == 0:
        findings.append(Finding("warning", f"no leads in the report (check {option('since')}, {option('until')}, "
                                           f"{option('markets')} and {option('as_of')})"))
    f.findings = findings
    return f


# Reports: each returns a `Report` (plain rows; `report.table(name).to_frame()` for a DataFrame).


def conversion(f, by: str | None = None):
    """Return the stage-by-stage conversion report (rows per stage, per group with `by`)."""
    from funnelcli.measures import reports

    return reports.conversion(f, by)


def purgatory(f, by: str | None = None, stage: str | None = None, show_list: bool = False, min_days: float | None = None):
    """Return the leakage and purgatory report, or with `show_list` the stuck leads themselves."""
    from funnelcli.measures import reports

    return reports.purgatory(f, by, stage, show_list, min_days)


def markets(f):
    """Return conversion per market and the market fit of each stage."""
    from funnelcli.measures import reports

    return reports.markets(f)


def trends(f, period: str = "month", counting: str = "cohort", window_days: float | None = None,
           last: int | None = None, by: str | None = None, since: dt.date | None = None, until: dt.date | None = None):
    """Return cohort (with maturity) or flow tables by period, and each measure's latest change."""
    from funnelcli.measures import reports
    from funnelcli.measures.periods import COUNTINGS, PERIODS

    _choice(period, "period", PERIODS)
    _choice(counting, "counting", COUNTINGS)
    return reports.trends(f, period, counting, window_days, last, by, _day(since, "since"), _day(until, "until"))


def digest(f, period: str = "week", compare: str = "previous"):
    """Return the weekly (or monthly) digest for the heads of sales and marketing."""
    from funnelcli.measures import reports
    from funnelcli.measures.periods import COMPARES, DIGEST_PERIODS

    _choice(period, "period", DIGEST_PERIODS)
    _choice(compare, "compare", COMPARES)
    return reports.digest(f, period, compare)


def plan(f, target: str, leads: int, period: str = "quarter", cohorts: int = 3, confidence: float = 0.8):
    """Return the reverse waterfall: the leads each stage up to `target` needs in a period (the
    one after the as-of date) for `leads` to reach it, from the step rates of the last `cohorts`
    mature cohorts, with a Wilson range at `confidence` carried through, and the median lead time
    from each stage to the target. Raises FunnelError when no cohort is mature yet or a step has
    no conversion to plan with."""
    from funnelcli.measures import plan_report

    return plan_report.plan(f, target, leads, period, cohorts, confidence)


def run_both(export: PathLike, old: Definitions | PathLike | Sequence[PathLike], new: Definitions | PathLike | Sequence[PathLike],
             *, as_of: dt.date | None = None, encoding: str | None = None, delimiter: str | None = None,
             strict: bool = False, joins: dict[str, PathLike] | None = None):
    """Return (old funnel, new funnel): the export under two definitions, at one as-of date (the
    one given, else the old definitions' latest date in the export), for `diff`.

    Both definitions are loaded before the export is read; stdin ('-') is read once. Each funnel
    has its own data-quality findings.
    """
    from funnelcli.sources import sniff

    old, new = _as_definitions(old), _as_definitions(new)
    content, _ = sniff.open_export(os.fspath(export))
    settings = dict(encoding=encoding, delimiter=delimiter, strict=strict, content=content, joins=joins)
    before = run(export, old, as_of=as_of, **settings)
    after = run(export, new, as_of=as_of or (before.as_of.date() if before.as_of is not None else None), **settings)
    if as_of is None:  # the date came from the export (by the old definitions), not from the caller
        after.as_of_given = False
    return before, after


def diff(old, new, examples: int = 3):
    """Return the impact of a change of the definitions: the funnels of one export under the old
    and the new definitions (from `run_both`) compared stage by stage and lead by lead."""
    from funnelcli.measures import diff_report

    return diff_report.diff(old, new, examples)


def changed(report) -> bool:
    """Return whether a `diff` report found any change (a number, a lead, the stages, a target)."""
    return bool(report.data.get("changed"))


def explain(export: PathLike, ids: Sequence[str], defs: Definitions | PathLike | Sequence[PathLike] = "definitions", *,
            as_of: dt.date | None = None, encoding: str | None = None, delimiter: str | None = None,
            joins: dict[str, PathLike] | None = None, cache: bool = False):
    """Return why each lead (by id, compared as trimmed text) is counted where it is at the as-of
    date: its rows, each stage's evidence, dates and bucket with the arithmetic, its exit, market
    and cohort, and whether it is in the report (an excluded row with the accounting's reason).
    Ids not in the export are listed with near ids in `report.data["missing"]`; raises FunnelError
    when none of them is there."""
    from funnelcli.measures import explain_report

    defs = _as_definitions(defs)
    loaded = read_export(export, defs, encoding=encoding, delimiter=delimiter, joins=joins, cache=cache)
    from funnelcli.sources import unreadable_dates
    from funnelcli.sources.fields import BAD_DATE

    # the lead table keeps no text: the cells that excluded rows for their dates are read again
    unread = unreadable_dates(os.fspath(export), defs, encoding, delimiter) if any(i.reason == BAD_DATE for i in loaded.excluded) else {}
    return explain_report.explain(loaded, funnel(loaded, defs, as_of=as_of), list(ids), unread)


def missing_ids(report) -> list[str]:
    """Return the ids an `explain` report did not find in the export."""
    return [m["id"] for m in report.data.get("missing") or []]


def init(export: PathLike, output: PathLike = "definitions", *, encoding: str | None = None,
         delimiter: str | None = None):
    """Write commented definitions for an export to OUTPUT/funnel.yml ('-': only return them), from
    its header and first rows: a recognised CRM layout's, else guessed from names and values.
    Return an `InitResult` (the file, the layout, the stages, the text). Never overwrites a file;
    raises InputError, writing nothing, for an export it cannot make sense of."""
    from funnelcli.init import init_definitions

    return init_definitions(os.fspath(export), os.fspath(output), encoding=encoding, delimiter=delimiter)


def missed_targets(report) -> list[str]:
    """Return the targets a report found missed (empty when none, or the report has no targets)."""
    return list(report.data.get("missed_targets") or [])


# Output


def render(report, fmt: str = "text", *, color: bool = False, width: int | None = None, ascii_only: bool = False,
           csv_guard: bool = True, table: str | None = None, columns: Sequence[str] | None = None) -> str:
    """Return the report as text in one of FORMATS: table, text, markdown, csv, json, html.

    Values are data in every format: control characters are written out, markup is escaped, and
    CSV text cells that would start a spreadsheet formula get a leading apostrophe (`csv_guard`
    False writes them as they are). CSV holds one table: `table`, else the report's main one.
    Tables show a compact set of columns unless `columns` names them or is ['all']; at a `width`
    they leave out columns (saying which) or list their rows, never cutting a number."""
    from funnelcli.output.render import FORMATS
    from funnelcli.output.render import render as _render

    _choice(fmt, "fmt", FORMATS)
    return _render(report, fmt, color=color, width=width, ascii_only=ascii_only, csv_guard=csv_guard, table=table,
                   columns=tuple(columns) if columns else None)


def write_report(report, path: PathLike, fmt: str | None = None) -> None:
    """Write the report to `path` atomically, in `fmt` (default: from the file's extension)."""
    from funnelcli.output.files import format_for_path, write_atomic

    path = os.fspath(path)
    write_atomic(render(report, fmt or format_for_path(path)), path)


def mail_report(report, to: Sequence[str], *, sender: str | None = None, subject: str | None = None,
                smtp_host: str = "localhost", smtp_port: int | None = None, smtp_user: str | None = None,
                smtp_password: str | None = None, smtp_tls: str = "starttls", smtp_timeout: float = 60.0) -> str:
    """Mail the report (a text and an HTML part) through an SMTP server within `smtp_timeout`
    seconds in all; return the server's host:port; raise DeliveryError (FunnelError for a sender,
    subject or address that is not one)."""
    from funnelcli.output import mail

    settings = mail.SmtpSettings(smtp_host, smtp_port, smtp_user, smtp_password, smtp_tls, smtp_timeout)
    recipients = [to] if isinstance(to, str) else list(to)  # one address as a string too, not its letters
    mail.send(mail.compose(report, recipients, sender, subject, smtp_user), settings)
    return settings.address
