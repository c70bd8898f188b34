"""Sources: reading exports into typed fields per lead, every row accounted for.

Reading (`sniff`, `csvfile`: the bytes, the encoding, the delimiter, only the columns a run uses)
is apart from typing (`cells`, `fields`: ids, dates, numbers, categories, rows excluded with a
reason; `accounting`). Shapes give evidence about stages besides dates: `shapes` (a status column,
flags), `history` (a stage-history log pivoted to a row per lead), `joins` (related files). A new
export shape is one more module here that gives the same `Fields`; the engine never learns which
shape they came from. `conditions` evaluates the definitions' declarative conditions (never user
code) over typed fields: here, not in the engine, because a source needs them too (a log's
`only:` picks its stage-change rows). Imports `definitions` and
`errors`, pyarrow, numpy and pandas; never the engine, measures or output.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from funnelcli.definitions import Definitions

if TYPE_CHECKING:  # importing this package stays light: `validate --data` reads headers without pandas
    from funnelcli.sources.fields import Fields


def read(path: str, defs: Definitions, encoding: str | None = None, delimiter: str | None = None,
         content: bytes | None = None, joins: dict[str, str] | None = None) -> Fields:
    """Return the export at `path` ('-' for stdin) as typed fields under the definitions: a log
    pivoted to a row per lead, the joined files' columns brought in, every file's rows accounted for.

    `joins` binds a join's name to its file (else the join's default path).
    """
    from funnelcli.sources.csvfile import NotInParts, in_parts, read_ahead, read_csv, read_parts

    needed = [(h, sorted({r.role for r in defs.refs if r.header == h and not r.file})) for h in defs.headers()]
    coded = frozenset()
    if defs.history is not None:
        from funnelcli.sources.history import coded_headers

        coded = coded_headers(defs)
    from funnelcli.sources.parquetfile import is_parquet, parquet_in_parts, read_parquet, read_parquet_parts

    parts = None  # a large export, read a part at a time so that its text never is in memory whole
    if defs.history is None and not defs.joins:
        if is_parquet(path) and parquet_in_parts(path):
            parts = read_parquet_parts(path, needed)
        elif not is_parquet(path) and in_parts(path, content, encoding):
            parts = read_ahead(read_parts(path, needed, encoding, delimiter))  # reading while pandas is imported
    if parts is not None:
        from funnelcli.sources.fields import typed_parts

        try:
            return typed_parts(parts, defs)
        except NotInParts:  # a record the CSV parts reader can't place: the whole-file reader below
            pass
    raw = _read_while_pandas_loads(read_parquet, path, needed) if is_parquet(path) else \
        _read_while_pandas_loads(read_csv, path, needed, encoding, delimiter, content, coded=coded)
    from funnelcli.sources.fields import typed_fields

    evidence, files, notices, unit, unmatched = None, [], [], "rows", []
    if defs.joins:  # by the file's own header (a log's too, before it is pivoted to a row per lead)
        from funnelcli.sources.joins import hidden_columns

        notices += hidden_columns(raw, defs)
    if defs.history is not None:
        from funnelcli.sources.history import pivot_log

        raw, evidence, account, log_notices = pivot_log(raw, defs)
        files, unit, notices = [account], "leads", notices + log_notices
    if defs.joins:
        from funnelcli.sources.joins import join_files

        raw, accounts, join_notices, unmatched = join_files(raw, defs, joins, encoding)
        files += accounts
        notices += join_notices
    fields = typed_fields(raw, defs, evidence, files, unit)
    # once the usable rows are known: each join's unmatched leads, and its rows that matched only excluded ones
    fields.notices += notices + [n for n in (u.settle(fields.usable, fields.rows) for u in unmatched) if n]
    fields.joined = [u.trace for u in unmatched]
    return fields


def read_joined(path: str, join, needed: list, encoding: str | None = None):
    """Return a join's file as a RawTable (Parquet or CSV; none of its rows is no error: no
    opportunities yet), in the join's own encoding, else the export's; an encoding error is worded
    for the join."""
    from funnelcli.sources.csvfile import read_csv
    from funnelcli.sources.parquetfile import is_parquet, read_parquet
    from funnelcli.sources.sniff import reading_join

    what = f"join {join.name!r}"
    with reading_join(join.name):
        if is_parquet(path):
            return read_parquet(path, needed, what=what, may_be_empty=True)
        return read_csv(path, needed, join.encoding or encoding, None, what=what, may_be_empty=True)


def unreadable_dates(path: str, defs: Definitions, encoding: str | None = None, delimiter: str | None = None) -> dict[int, list]:
    """Return the export's date cells no format reads, by row ({row: [(header, text)]}), read again
    from the file (for explain: the lead table keeps no text). Empty for stdin, a pipe or a FIFO
    (read once: a second read finds nothing, or waits) and a log (its rows are changes, not leads)."""
    if path == "-" or not os.path.isfile(path) or defs.history is not None:
        return {}
    import numpy as np

    from funnelcli.sources.cells import parse_dates
    from funnelcli.sources.csvfile import read_csv
    from funnelcli.sources.fields import blank_out
    from funnelcli.sources.parquetfile import is_parquet, read_parquet

    joined = {c for j in defs.joins for c in j.columns}
    headers = sorted(h for h in defs.headers() if h in defs.date_headers() and h not in joined)
    if not headers:
        return {}
    raw = read_parquet(path, headers) if is_parquet(path) else read_csv(path, headers, encoding, delimiter)
    raw, _ = blank_out(raw, defs.blank_values)  # as the run reads them: a blank value is no date, not a bad one
    out: dict[int, list] = {}
    for h in headers:
        _, bad, text = parse_dates(raw.column(h), defs.formats(h), defs.timezone)
        for at in np.flatnonzero(bad)[:10_000]:  # a few rows are explained; a column of them stopped the run
            out.setdefault(int(raw.rows[at]), []).append((h, text[int(at)].as_py()))
    return out


def _read_while_pandas_loads(reader, *args, **kwargs):
    """Return reader(*args, **kwargs), run in a thread while this one imports pandas (pyarrow's
    reader releases the GIL; the import is a fifth of a small export's run)."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        job = pool.submit(reader, *args, **kwargs)
        import pandas  # noqa: F401

        return job.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C doesn't wait for the read to end
