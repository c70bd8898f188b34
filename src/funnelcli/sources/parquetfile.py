"""Reading an export given as Parquet: only the columns the definitions use, as text, so that the
rest of the pipeline (typing, accounting, shapes, joins) is the one a CSV takes.

Parquet has no header line and no report footer; a row's number is its position plus one, as a
spreadsheet of the same rows would show it (the header is row 1). Dates stored as Parquet
timestamps or dates become ISO text, which the date reader reads as it reads a CSV's.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from funnelcli.errors import InputError
from funnelcli.sources.csvfile import RawTable, _check_columns, row_numbers

SUFFIXES = (".parquet", ".pq")


def is_parquet(path: str) -> bool:
    return path != "-" and path.lower().endswith(SUFFIXES)


def read_parquet(path: str, needed: list, what: str = "the definitions", may_be_empty: bool = False) -> RawTable:
    """Return the columns `needed` (headers, or (header, roles) pairs) of the Parquet file as text."""
    source, columns = _open(path, needed, what)
    table = _as_text_table(source.read(columns=columns))
    if table.num_rows == 0 and not may_be_empty:
        raise InputError(f"{path}: the export has no rows")
    return RawTable(path, table, row_numbers(path, 2, table.num_rows), header=[h.strip() for h in source.schema_arrow.names])


PARTS_ABOVE_ROWS = 1_000_000  # a Parquet export of more rows is read a batch of PART_ROWS at a time
PART_ROWS = 1 << 18


def parquet_in_parts(path: str) -> bool:
    """Return whether a Parquet export is large enough to read in parts (as a large CSV is)."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows > PARTS_ABOVE_ROWS
    except (pa.ArrowInvalid, OSError):  # read_parquet names the problem
        return False


def read_parquet_parts(path: str, needed: list, what: str = "the definitions"):
    """Yield what read_parquet gives as consecutive RawTables of PART_ROWS rows, so that the whole
    table is never in memory; the first carries the file's number of rows."""
    source, columns = _open(path, needed, what)
    start, expected = 0, source.metadata.num_rows
    for batch in source.iter_batches(batch_size=PART_ROWS, columns=columns):
        table = _as_text_table(pa.Table.from_batches([batch]))
        yield RawTable(path, table, row_numbers(path, start + 2, table.num_rows), expected_records=expected)
        start, expected = start + table.num_rows, 0


def _open(path: str, needed: list, what: str):
    """Return the Parquet file and the columns `needed` as its schema names them; raise InputError
    for a file that is not Parquet or lacks a column."""
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a Parquet file ({str(exc).splitlines()[0]}); a CSV export needs a .csv name") from None
    header = list(source.schema_arrow.names)
    _check_columns(needed, [h.strip() for h in header], path, what)
    written = {h.strip(): h for h in header}
    return source, [written[n if isinstance(n, str) else n[0]] for n in needed]


def _as_text_table(table: pa.Table) -> pa.Table:
    """Return every column as text, named by its trimmed name."""
    return pa.Table.from_arrays([_as_text(c) for c in table.columns], names=[h.strip() for h in table.column_names])


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Return a column as text: strings as they are (blank as null), numbers and booleans as
    written, timestamps and dates as ISO."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = kind.value_type
    if pa.types.is_large_string(kind):
        column = column.cast(pa.string())
    elif pa.types.is_timestamp(kind) and kind.tz:
        column = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S%z")
    elif pa.types.is_timestamp(kind):  # '2024-11-18 18:19:05': a cast, a tenth of strftime's time
        seconds = pc.floor_temporal(column, unit="second") if kind.unit != "s" else column
        column = pc.cast(pc.cast(seconds, pa.timestamp("s")), pa.string())
    elif pa.types.is_floating(kind):  # a whole number as an integer: an id stored as a float (pandas
        # writes an id column with a blank as floats) reads 15051002514, not 1.5051002514e+10
        whole = pc.fill_null(pc.and_(pc.is_finite(column), pc.less(pc.abs(column), 2.0 ** 53)), False)
        whole = pc.and_(whole, pc.equal(pc.if_else(whole, pc.floor(column), 0.5), column))
        as_int = pc.cast(pc.cast(pc.if_else(whole, column, 0.0), pa.int64()), pa.string())
        column = pc.if_else(whole, as_int, column.cast(pa.string()))
    elif not pa.types.is_string(kind):
        column = column.cast(pa.string())
    blank = pc.equal(pc.utf8_trim_whitespace(column), "")
    return pc.if_else(pc.fill_null(blank, False), pa.scalar(None, pa.string()), column)
