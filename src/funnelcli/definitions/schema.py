"""The checks of one definitions file: keys, types, settings, columns, history, joins, stages,
exits and markets.

Every problem is reported with its position and the file's checks go on after it, so one run
lists them all. conditions.py checks the conditions they hold; merge.py puts the files' fragments
together.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import os
import re
from dataclasses import dataclass, field
from typing import Any

from funnelcli.definitions.checks import check_keys, describe_value, expect_list, expect_mapping, is_number
from funnelcli.definitions.conditions import parse_condition
from funnelcli.definitions.model import (
    NUMBER_FORMATS,
    OUT_OF_MARKET,
    RESERVED_FIELDS,
    Exit,
    History,
    Join,
    Market,
    PurgatoryRule,
    Stage,
)
from funnelcli.definitions.yamldoc import Doc, Where
from funnelcli.errors import InputError, Problem


def _text(doc: Doc, mapping: dict, key: str, kp: tuple, what: str, required: bool = False) -> str | None:
    if key not in mapping:
        if required:
            doc.add(doc.at(kp), "missing-key", f"{what} needs {'an' if key[0] in 'aeiou' else 'a'} {key!r}")
        return None
    value = mapping[key]
    if isinstance(value, str) and value.strip():
        return value.strip()
    doc.add(doc.at(kp + (key,)), "wrong-type", f"{what}: {key!r} must be non-empty text, got {describe_value(value)}")
    return None


def _positive(doc: Doc, mapping: dict, key: str, kp: tuple, what: str, rule: str = "invalid-value") -> float | None:
    if key not in mapping:
        return None
    value = mapping[key]
    if is_number(value) and 0 < value <= 36_500:  # up to a hundred years: inf and nan are not days
        return value
    doc.add(
        doc.at(kp + (key,)),
        rule,
        f"{what}: {key} must be a positive number of days, got {describe_value(value)}",
    )
    return None


# --------------------------------------------------------------------------------------------
# One file -> a fragment

TOP_KEYS = ("version", "description", "columns", "timezone", "date_format", "date_formats", "blank_values", "stage_column", "history",
            "joins", "stages", "exits", "markets", "targets")
STAGE_KEYS = ("name", "description", "date", "when", "values", "flag", "sla_days", "window_days", "purgatory")
PURGATORY_KEYS = ("touches_at_most", "idle_days")
EXIT_KEYS = ("name", "description", "when", "date", "values")
HISTORY_KEYS = ("stage", "at", "only", "reopen")
JOIN_KEYS = ("name", "description", "path", "on", "columns", "many", "order_by", "encoding")
MANY_RULES = ("first", "last", "error")
MARKET_KEYS = ("name", "description", "when")


@dataclass
class Fragment:
    doc: Doc
    version: Any = None
    timezone: str | None = None
    date_format: tuple | None = None
    date_formats: dict = field(default_factory=dict)  # column -> (formats, where)
    blank_values: tuple | None = None
    stage_column: str | None = None
    history: History | None = None
    joins: list | None = None
    shape_given: bool = False
    columns: dict = field(default_factory=dict)
    stages: list | None = None
    exits: list = field(default_factory=list)
    markets: list = field(default_factory=list)
    # every market with a usable name, its rule valid or not: names are checked for duplicates
    # alongside the rule's problems, not in a second round
    market_names: list = field(default_factory=list)  # Named
    targets: list = field(default_factory=list)  # (key, raw value, where) checked after merge


@dataclass(frozen=True)
class Named:
    """A name and where it is written: an item whose rule may have failed to parse."""

    name: str
    where: Where


def parse_file(path: str, problems: list[Problem]) -> Fragment | None:
    """Return the fragment one definitions file holds, adding its problems to `problems`.

    None when the file gives nothing to merge: not UTF-8, not YAML, empty, or not a mapping.
    Raises InputError only when the file cannot be read at all.
    """
    text = _read_text(path, problems)
    if text is None:
        return None
    export = _an_export(path, text)
    if export:
        problems.append(Problem(path, 1, 1, "error", "not-definitions",
                                f"this looks like a CSV export ({export}), not definitions, which are YAML: give the export "
                                "first and the definitions after -d (funnelcli conversion EXPORT -d DEFINITIONS; "
                                "funnelcli validate DEFINITIONS --data EXPORT); funnelcli init EXPORT writes a first draft"))
        return None
    doc = Doc(path, text, problems)
    data = doc.data
    if data is None:
        # A YAML syntax error also leaves no data: it is reported already, the file is not empty.
        if not any(p.path == path and p.rule in ("yaml-syntax", "too-many-aliases") for p in problems):
            doc.add(Where(path), "empty-file", "the file holds no definitions", level="warning")
        return None
    if not expect_mapping(doc, data, (), "a definitions file"):
        return None
    check_keys(doc, data, (), TOP_KEYS, "the definitions")
    frag = Fragment(doc)
    _parse_settings(doc, data, frag)
    if "columns" in data and expect_mapping(doc, data["columns"], ("columns",), "columns"):
        frag.columns = _parse_columns(doc, data["columns"])
    if "stages" in data and expect_list(doc, data["stages"], ("stages",), "stages"):
        frag.stages = _parse_stages(doc, data["stages"])
    # exits, markets and targets may be left empty (`exits:` alone): only stages must hold something.
    for section, parse in (("exits", _parse_exit), ("markets", _parse_market)):
        if section in data and data[section] is not None and expect_list(doc, data[section], (section,), section):
            for i, item in enumerate(data[section]):
                parsed = parse(doc, item, (section, i), frag) if section == "markets" else parse(doc, item, (section, i))
                if parsed is not None:
                    getattr(frag, section).append(parsed)
    if "targets" in data and data["targets"] is not None and expect_mapping(doc, data["targets"], ("targets",), "targets"):
        # Targets name stages, which may be listed in another file: merge.py checks them.
        for key, value in data["targets"].items():
            frag.targets.append((key, value, doc.at(("targets", key), key=True), doc.at(("targets", key))))
    return frag


def _an_export(path: str, text: str) -> str | None:
    """Return what shows a file to be a CSV export rather than definitions (its first line's
    fields, which the next line repeats), or None: definitions and export swapped on the command
    line would otherwise read as YAML, with an error that quotes the whole file."""
    lines = text.lstrip("\ufeff").splitlines()[:2]
    if len(lines) < 2 or re.search(r":\s|:$", lines[0]) or lines[0].lstrip().startswith(("#", "-", "{", "[")):
        return None
    sep = max((",", ";", "\t"), key=lines[0].count)
    fields = next(csv.reader([lines[0]], delimiter=sep), [])
    if len(fields) < 3 or lines[1].count(sep) < len(fields) - 1:
        return None
    shown = ", ".join(repr(f.strip()) for f in fields[:3])
    return f"its first line holds {len(fields)} fields: {shown}, ..."


def _read_text(path: str, problems: list[Problem]) -> str | None:
    """Return the text of a definitions file, or None after reporting that it is not UTF-8."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read definitions: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark (Notepad writes one) is not part of the text
    except UnicodeDecodeError as exc:
        # where the byte is, as an editor counts: its line, and its column among the characters before it
        bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
        body, start = raw[bom:], exc.start - bom
        before = body[:start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1:].decode("utf-8", errors="replace")) + 1
        problems.append(Problem(path, line, col, "error", "encoding",
                                f"not UTF-8 text (byte {exc.start}, {body[start:start + 1]!r}); save the file as UTF-8"))
        return None


def _parse_settings(doc: Doc, data: dict, frag: Fragment) -> None:
    """Set the fragment's version, timezone and date_format from the file (None when not given)."""
    if "version" in data:
        frag.version = data["version"]
        if frag.version != 1:
            doc.add(doc.at(("version",)), "unsupported-version", f"version must be 1, got {describe_value(frag.version)}")
    frag.timezone = _text(doc, data, "timezone", (), "the definitions")
    if frag.timezone:
        _check_timezone(doc, frag.timezone)
    frag.date_format = _text_list(doc, data, "date_format", (), "the definitions")
    if frag.date_format:
        frag.date_format = tuple(map(_format_name, frag.date_format))
    for i, fmt in enumerate(frag.date_format or ()):
        _check_date_format(doc, fmt, ("date_format", i) if isinstance(data["date_format"], list) else ("date_format",))
    if "date_formats" in data and expect_mapping(doc, data["date_formats"], ("date_formats",), "date_formats"):
        frag.date_formats = _parse_column_formats(doc, data["date_formats"])
    frag.blank_values = _text_list(doc, data, "blank_values", (), "the definitions")
    frag.stage_column = _text(doc, data, "stage_column", (), "the definitions")
    # written, even if invalid: stages then have values, and aren't also reported as lacking a rule
    frag.shape_given = "stage_column" in data or "history" in data
    if "history" in data:
        frag.history = _parse_history(doc, data["history"])
    if "joins" in data and data["joins"] is not None and expect_list(doc, data["joins"], ("joins",), "joins"):
        frag.joins = [j for j in (_parse_join(doc, item, ("joins", i)) for i, item in enumerate(data["joins"])) if j]


def _parse_column_formats(doc: Doc, mapping: dict) -> dict:
    """Return `date_formats:` as column -> (its formats, where the column is named)."""
    out = {}
    for column in mapping:
        kp = ("date_formats",)
        if not isinstance(column, str) or not column.strip():
            doc.add(doc.at(kp + (column,), key=True), "wrong-type", f"date_formats: a column name must be text, got {describe_value(column)}")
            continue
        formats = _text_list(doc, mapping, column, kp, "date_formats")
        value = mapping[column]
        for i, fmt in enumerate(formats or ()):
            _check_date_format(doc, fmt, kp + ((column, i) if isinstance(value, list) else (column,)))
        if formats:
            out[column.strip()] = (tuple(map(_format_name, formats)),
                                   doc.at(kp + (column,), key=True))
    return out


def _text_list(doc: Doc, mapping: dict, key: str, kp: tuple, what: str) -> tuple | None:
    """Return one text or a list of texts as a tuple (None when not given), reporting other values."""
    if key not in mapping:
        return None
    value = mapping[key]
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = str(item)  # YAML reads N/A as text but 0 as a number: both are text here
        if not isinstance(item, str) or not item.strip():
            where = kp + ((key, i) if isinstance(value, list) else (key,))
            doc.add(doc.at(where), "wrong-type", f"{what}: {key} must be text or a list of texts, got {describe_value(item)}")
            continue
        out.append(item if key == "date_format" or what == "date_formats" else item.strip())
    return tuple(out)


def _parse_history(doc: Doc, value: Any) -> History | None:
    """Return the history rule (the export is a stage-history log), reporting its problems."""
    kp = ("history",)
    if not expect_mapping(doc, value, kp, "history"):
        return None
    check_keys(doc, value, kp, HISTORY_KEYS, "history")
    stage = _text(doc, value, "stage", kp, "history", required=True)
    at = _text(doc, value, "at", kp, "history", required=True)
    only = parse_condition(doc, value["only"], kp + ("only",), "history only") if "only" in value else None
    reopen = _text_list(doc, value, "reopen", kp, "history")
    if stage is None or at is None or ("only" in value and only is None):
        return None
    return History(stage, at, only, reopen or (), doc.at(kp, key=True), {k: doc.at(kp + (k,)) for k in ("stage", "at", "reopen") if k in value})


def _parse_join(doc: Doc, item: Any, kp: tuple) -> Join | None:
    """Return one join (a related file, its key and the columns it brings), reporting its problems."""
    checked = _item(doc, item, kp, "join", JOIN_KEYS)
    if checked is None:
        return None
    label, name = checked
    path = _text(doc, item, "path", kp, label)
    keys = _join_key(doc, item, kp, label)
    columns = {}
    if "columns" not in item:
        doc.add(doc.at(kp), "missing-key", f"{label} needs 'columns': the file's columns it brings in, canonical name: header")
    elif expect_mapping(doc, item["columns"], kp + ("columns",), f"{label} columns"):
        columns = {c: h for c, (h, _) in _parse_columns(doc, item["columns"], kp + ("columns",)).items()}
    many = item.get("many", "error")
    many = many.strip().lower() if isinstance(many, str) else many
    if many not in MANY_RULES:
        doc.add(doc.at(kp + ("many",)), "invalid-value", f"{label}: many must be one of {', '.join(MANY_RULES)}, got {describe_value(many)}")
        many = None
    order_by = _text(doc, item, "order_by", kp, label)
    encoding = _text(doc, item, "encoding", kp, label)
    if encoding is not None and not _text_encoding(encoding):
        doc.add(doc.at(kp + ("encoding",)), "invalid-value", f"{label}: encoding {encoding!r} is not a text encoding a file is "
                                                               "written in (such as utf-8, cp1252, latin-1, utf-16)")
        encoding = None
    if name is None or keys is None or many is None:
        return None
    if path and not os.path.isabs(path):
        path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(doc.path)), path))
    return Join(name, keys[0], keys[1], columns, path, many, order_by, doc.at(kp), encoding)


def _text_encoding(name: str) -> bool:
    """Return whether `name` is a text encoding Python knows (the reader refuses the odd ones, rot13, say)."""
    try:
        return codecs.lookup(name)._is_text_encoding
    except LookupError:
        return False


def _join_key(doc: Doc, item: dict, kp: tuple, label: str) -> tuple[str, str] | None:
    """Return (the lead table's key column, this file's key column) of a join's `on:`."""
    if "on" not in item:
        doc.add(doc.at(kp), "missing-key", f"{label} needs 'on': the key, one column name or {{lead column: file column}}")
        return None
    on = item["on"]
    if isinstance(on, str) and on.strip():
        return on.strip(), on.strip()
    if isinstance(on, dict) and len(on) == 1:
        (lead, file), = on.items()
        if isinstance(lead, str) and isinstance(file, str) and lead.strip() and file.strip():
            return lead.strip(), file.strip()
    doc.add(doc.at(kp + ("on",)), "wrong-type",
            f"{label}: on must be one column name or {{lead column: file column}}, got {describe_value(on)}")
    return None


def _parse_columns(doc: Doc, columns: dict, base: tuple = ("columns",)) -> dict:
    """Return the file's column map, canonical name -> (export header, where), leaving out bad entries."""
    out = {}
    for canonical, header in columns.items():
        kp = base + (canonical,)
        if not isinstance(canonical, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", canonical):
            doc.add(doc.at(kp, key=True), "invalid-value", f"columns: canonical name {canonical!r} must be a word such as owner or lead_score")
            continue
        if canonical in RESERVED_FIELDS:
            doc.add(doc.at(kp, key=True), "reserved-name", f"columns: {canonical!r} is computed by funnelcli; map the export's column under another name")
            continue
        # YAML reads a header such as 2024 as a number; the export's header is its text.
        if isinstance(header, (int, float)) and not isinstance(header, bool):
            header = str(header)
        if not isinstance(header, str) or not header.strip():
            doc.add(doc.at(kp), "wrong-type", f"columns: {canonical} must name a column of the export, got {describe_value(header)}")
            continue
        out[canonical] = (header.strip(), doc.at(kp))
    return out


def _parse_stages(doc: Doc, items: list) -> list[Stage]:
    """Return the file's good stages in order, after reporting the bad ones (and an empty list)."""
    if not items:
        doc.add(doc.at(("stages",)), "missing-key", "stages is empty: list the funnel's stages in order")
    stages = []
    for i, item in enumerate(items):
        stage = _parse_stage(doc, item, ("stages", i))
        if stage is not None:
            stages.append(stage)
    return stages


def _check_timezone(doc: Doc, name: str) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # 'America' is a folder of zones
        doc.add(doc.at(("timezone",)), "invalid-timezone", f"unknown timezone {name!r}; use an IANA name such as UTC or America/New_York")


def _format_name(fmt: str) -> str:
    """Return a date format as merging compares it: excel, epoch, epoch_ms in one spelling (they are
    read in any case, with blanks around), a strptime format as written."""
    name = fmt.strip().casefold()
    return name if name in NUMBER_FORMATS else fmt


def _check_date_format(doc: Doc, fmt: str, kp: tuple = ("date_format",)) -> None:
    if fmt.strip().casefold() in NUMBER_FORMATS:  # excel (45292 is 2024-01-01), epoch, epoch_ms (model.EPOCH_UNITS)
        return
    sample = dt.datetime(2024, 3, 15, 14, 5, 6, tzinfo=dt.timezone.utc)  # %z needs an offset to print
    try:
        if "%" not in fmt:
            raise ValueError("no % directive")
        dt.datetime.strptime(sample.strftime(fmt), fmt)
    except re.error:  # a directive twice ('%Y-%m-%d %Y'): strptime's pattern names a group twice
        doc.add(doc.at(kp), "invalid-date-format",
                f"date_format {fmt!r} gives a directive twice; each of %Y, %m, %d, %H... may appear once")
    except ValueError:
        doc.add(
            doc.at(kp),
            "invalid-date-format",
            f"date_format {fmt!r} is not a strptime format such as '%m/%d/%Y %I:%M %p' (or 'excel' for serial day numbers, 'epoch' or 'epoch_ms' for Unix time in seconds or milliseconds)",
        )


def _item(doc: Doc, item: Any, kp: tuple, kind: str, keys: tuple) -> tuple[str, str | None] | None:
    """Check a list item (a stage, an exit, a market) is a mapping of known keys with a name.

    Return its label for messages ("stage 'MQL'", or "stage #2" without a name) and its name
    (None after reporting why), or None when the item is not a mapping at all.
    """
    if not expect_mapping(doc, item, kp, f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"):
        return None
    label = f"{kind} {item.get('name')!r}" if isinstance(item.get("name"), str) else f"{kind} #{kp[-1] + 1}"
    check_keys(doc, item, kp, keys, label)
    name = _text(doc, item, "name", kp, label, required=True)
    bad = _UNPRINTABLE.search(name or "")
    if bad:
        # Reports show a name on one line: a line break would forge a line, an escape the terminal.
        # The name is kept (an error stops the run): a stage left out would make its targets unknown too.
        char = bad.group()
        what = "a line break" if char in "\r\n\u2028\u2029\x85" else "a tab" if char == "\t" else "a control character"
        doc.add(doc.at(kp + ("name",)), "invalid-value",
                f"{label}: a name cannot hold {what} (U+{ord(char):04X}); reports show names on one line")
    return label, name


# C0 and C1 controls (line breaks, tab, escape), Unicode line and paragraph separators, and the
# bidirectional overrides that reorder what a terminal shows
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _parse_stage(doc: Doc, item: Any, kp: tuple) -> Stage | None:
    checked = _item(doc, item, kp, "stage", STAGE_KEYS)
    if checked is None:
        return None
    label, name = checked
    if name and ("->" in name or re.search(r"\s+stuck$", name, re.IGNORECASE)):
        doc.add(doc.at(kp + ("name",)), "invalid-value", f"{label}: a stage name cannot contain '->' or end in 'stuck' (targets use them)")
        name = None
    date = _text(doc, item, "date", kp, label)
    when = parse_condition(doc, item["when"], kp + ("when",), f"{label} when") if "when" in item else None
    values = _text_list(doc, item, "values", kp, label) or ()
    flag = _text(doc, item, "flag", kp, label)
    if "when" in item and "flag" in item:
        doc.add(doc.at(kp + ("flag",), key=True), "conflict", f"{label}: give a 'when' condition or a 'flag', not both")
    # A stage without a rule of its own is checked after merging: the first stage may have none,
    # and with a status column or a log every stage has its values.
    sla = _positive(doc, item, "sla_days", kp, label, rule="invalid-sla")
    window = _positive(doc, item, "window_days", kp, label)
    purgatory = None
    if "purgatory" in item:
        pkp = kp + ("purgatory",)
        rule = item["purgatory"]
        if expect_mapping(doc, rule, pkp, f"{label} purgatory"):
            check_keys(doc, rule, pkp, PURGATORY_KEYS, f"{label} purgatory")
            touches = rule.get("touches_at_most")
            idle = _positive(doc, rule, "idle_days", pkp, f"{label} purgatory")
            bad = False
            if not (isinstance(touches, int) and not isinstance(touches, bool) and touches >= 0):
                where = doc.at(pkp + ("touches_at_most",)) if "touches_at_most" in rule else doc.at(pkp)
                doc.add(where, "invalid-value" if "touches_at_most" in rule else "missing-key",
                        f"{label} purgatory: touches_at_most must be a whole number, 0 or more, got {describe_value(touches)}")
                bad = True
            if "idle_days" not in rule:
                doc.add(doc.at(pkp), "missing-key", f"{label} purgatory needs idle_days")
                bad = True
            if not bad and idle is not None:
                purgatory = PurgatoryRule(touches, idle)
    if name is None:
        return None
    marks = {k: doc.at(kp + (k,), key=(k == "purgatory")) for k in ("date", "purgatory", "flag", "values", "when") if k in item}
    return Stage(name, date, when, values, flag, sla, window, purgatory, doc.at(kp), marks)


def _parse_exit(doc: Doc, item: Any, kp: tuple) -> Exit | None:
    checked = _item(doc, item, kp, "exit", EXIT_KEYS)
    if checked is None:
        return None
    label, name = checked
    date = _text(doc, item, "date", kp, label)
    when = parse_condition(doc, item["when"], kp + ("when",), f"{label} when") if "when" in item else None
    values = _text_list(doc, item, "values", kp, label) or ()
    # An exit without a rule is checked after merging: with a status column or a log, its values tell.
    if name is None:
        return None
    marks = {k: doc.at(kp + (k,)) for k in ("date", "values", "when") if k in item}
    return Exit(name, when, date, values, doc.at(kp), marks)


def _parse_market(doc: Doc, item: Any, kp: tuple, frag: Fragment) -> Market | None:
    checked = _item(doc, item, kp, "market", MARKET_KEYS)
    if checked is None:
        return None
    label, name = checked
    if name and name.casefold() == OUT_OF_MARKET:
        doc.add(doc.at(kp + ("name",)), "reserved-name", f"{label}: {OUT_OF_MARKET!r} is where leads in no market go; name the market otherwise")
        name = None
    if name is not None:
        frag.market_names.append(Named(name, doc.at(kp)))
    if "when" not in item:
        doc.add(doc.at(kp), "missing-key", f"{label} needs a 'when' condition")
        return None
    when = parse_condition(doc, item["when"], kp + ("when",), f"{label} when")
    if name is None or when is None:
        return None
    return Market(name, when, doc.at(kp))
