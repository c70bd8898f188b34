"""The head of a CSV export: opening it, its encoding, delimiter and header row.

Standard library only, so `funnelcli validate --data` can check headers without pandas.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import sys

from funnelcli.errors import InputError


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
        f"{name}: the file is not {tried} text{detail}; pass its encoding, e.g. --encoding cp1252 "
        "(Excel on Windows) or --encoding latin-1"
    )


def python_codec(encoding: str | None) -> str:
    if not encoding:
        return "utf-8-sig"
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r} (try utf-8, cp1252, latin-1, utf-16)") from None
    return "utf-8-sig" if codec in ("utf-8", "utf-8-sig") else codec


def read_header(head: bytes, name: str, encoding: str | None, delimiter: str | None) -> tuple[list[str], str]:
    """Return the header's column names and the delimiter (given, or sniffed from the header)."""
    if not head.strip(b"\r\n\t \xef\xbb\xbf"):
        raise InputError(f"{name}: the file is empty; expected a CSV export with a header row")
    codec = python_codec(encoding)
    if codec == "utf-8-sig":
        if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            raise InputError(f"{name}: this is an Excel workbook, not CSV; save it as CSV (UTF-8) first")
        if b"\x00" in head[:4096] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InputError(f"{name}: this looks like a binary file, not a CSV export")
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InputError(f"{name}: the file is UTF-16 text; pass --encoding utf-16")
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        text = decoder.decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise encoding_hint(name, encoding, f" (undecodable byte at offset {exc.start})") from None
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
    return [h.strip() for h in header], delimiter
