"""The head of a CSV export: opening it, its encoding, delimiter and header row.

Standard library only, so `funnelcli validate --data` can check headers without pandas.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import sys

from funnelcli.errors import InputError, option


def open_export(path: str) -> tuple[bytes | None, str]:
    """Return (the bytes of stdin or None for a file, the export's display name)."""
    if path == "-":
        return sys.stdin.buffer.read(), "<stdin>"
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, not a CSV export")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: cannot read the file (permission denied)")
    return None, path


def read_head(data: bytes | None, path: str, size: int = 1 << 16) -> bytes:
    if data is not None:
        return data[:size]
    with open(path, "rb") as handle:
        return handle.read(size)


def encoding_hint(name: str, encoding: str | None, detail: str = "") -> InputError:
    tried = encoding or "UTF-8"
    return InputError(
        f"{name}: the file is not {tried} text{detail}; pass its encoding, e.g. {option('encoding')}cp1252 "
        f"(Excel on Windows) or {option('encoding')}latin-1"
    )


def decode_error_line(data: bytes | None, path: str, codec: str) -> int | None:
    """Return the line of the first byte `codec` cannot decode (reading in chunks), or None."""
    decoder = codecs.getincrementaldecoder(codec)()
    line = 1
    handle = io.BytesIO(data) if data is not None else open(path, "rb")
    with handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return line + chunk[: max(exc.start, 0)].count(b"\n")
            line += chunk.count(b"\n")
    return None


def python_codec(encoding: str | None) -> str:
    if not encoding:
        return "utf-8-sig"
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise InputError(f"{option('encoding')}{encoding!r}: unknown encoding (try utf-8, cp1252, latin-1, utf-16)") from None
    return "utf-8-sig" if codec in ("utf-8", "utf-8-sig") else codec


def read_header(head: bytes, name: str, encoding: str | None, delimiter: str | None) -> tuple[list[str], str]:
    """Return the header's column names and the delimiter (given, or sniffed from the header)."""
    if not head.strip(b"\r\n\t \xef\xbb\xbf"):
        raise InputError(f"{name}: the file is empty; expected a CSV export with a header row")
    codec = python_codec(encoding)
    if codec == "utf-8-sig":
        if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            raise InputError(f"{name}: this is an Excel workbook, not CSV; save it as CSV (UTF-8) first")
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InputError(f"{name}: the file is UTF-16 text; pass {option('encoding')}utf-16")
        if b"\x00" in head[:4096]:
            sample = head[:4096]
            # Text in UTF-16 without a byte-order mark has a zero in every other byte.
            if sample[1::2].count(0) > 0.9 * len(sample[1::2]):
                raise InputError(f"{name}: the file looks like UTF-16 text; pass {option('encoding')}utf-16-le")
            if sample[0::2].count(0) > 0.9 * len(sample[0::2]):
                raise InputError(f"{name}: the file looks like UTF-16 text; pass {option('encoding')}utf-16-be")
            raise InputError(f"{name}: this looks like a binary file, not a CSV export")
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        text = decoder.decode(head, final=False)
    except UnicodeDecodeError as exc:
        line = head[: exc.start].count(b"\n") + 1
        raise encoding_hint(name, encoding, f" (line {line} has bytes it cannot decode)") from None
    first = text.split("\n", 1)[0]
    if delimiter is None:
        counts = {d: first.count(d) for d in (",", ";", "\t")}
        delimiter = max(counts, key=counts.get)
        if counts[delimiter] == 0:
            delimiter = ","
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    except (StopIteration, csv.Error) as exc:
        raise InputError(f"{name}: cannot read the header row: {exc}") from None
    return header, delimiter  # as written; callers strip the names to compare them
