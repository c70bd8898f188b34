"""The head of a CSV export: opening it, its encoding, delimiter and header row.

Standard library only, so `funnelcli validate --data` can check headers without pandas.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import stat
import sys

from funnelcli.errors import InputError, option


def open_export(path: str) -> tuple[bytes | None, str]:
    """Return (the export's bytes, or None for a regular file read in place; its display name).

    stdin ('-'), a pipe (`<(cat leads.csv)`, /dev/fd/N) and a named FIFO are read once, whole,
    into memory: they cannot be read twice or sought in. A device is refused.
    """
    if path == "-":
        return _read_stdin(), "<stdin>"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: is a folder, not a CSV export")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: cannot read the file (permission denied)")
    if stat.S_ISREG(info.st_mode):
        return None, path
    if stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode):
        try:
            with open(path, "rb") as handle:
                return handle.read(), path
        except OSError as exc:
            raise InputError(f"{path}: cannot read the pipe ({exc.strerror or exc})") from None
    if stat.S_ISCHR(info.st_mode) and info.st_rdev == os.stat(os.devnull).st_rdev:
        return b"", path  # empty: said so by read_header
    # Other devices never end (/dev/zero, /dev/urandom) or are no export (a disk, a terminal).
    raise InputError(f"{path}: is a device, not a CSV export; name a file, or pass '-' and pipe the export in")


def _read_stdin() -> bytes:
    """Return all of stdin; raise InputError when it is closed (`<&-`) or cannot be read."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise InputError("stdin is closed: pipe the export in (... | funnelcli conversion -) or name its file instead of '-'")
    try:
        return stream.read()
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the export from stdin ({getattr(exc, 'strerror', None) or exc}); name its file instead of '-'") from None


HEAD_LIMIT = 64 << 20  # a header row longer than this is not a CSV export's


def _header_end(data, start: int = 0, limit: int = HEAD_LIMIT) -> int | None:
    """Return the offset just past the header row's line end (a newline outside quotes), or None
    when none comes before `limit` (or the end)."""
    at, quotes, counted = start, 0, start
    while True:
        at = data.find(b"\n", at, limit)
        if at < 0:
            return None
        quotes += data.count(b'"', counted, at)
        counted = at
        if quotes % 2 == 0:  # a newline inside a quoted name belongs to the header
            return at + 1
        at += 1


def read_head(data: bytes | None, path: str, size: int = 1 << 16) -> bytes:
    """Return the start of the export: `size` bytes, or more when the header row is longer (it is
    never cut: a cut header reads as missing columns)."""
    if data is not None:
        end = _header_end(data, 0)
        return data[: max(size, end or min(len(data), HEAD_LIMIT))]
    with open(path, "rb") as handle:
        head = handle.read(size)
        while len(head) < HEAD_LIMIT and _header_end(head) is None:
            more = handle.read(len(head))
            if not more:
                break
            head += more
    return head


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


# Text encodings that are no file's encoding: they would misread any export.
NOT_FILE_ENCODINGS = {"undefined", "punycode", "idna", "unicode-escape", "raw-unicode-escape"}


def python_codec(encoding: str | None) -> str:
    """Return the Python codec of `encoding` (a text encoding a file can be written in); raise
    InputError naming the option for an unknown one or one that is not a text encoding."""
    if not encoding:
        return "utf-8-sig"
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise InputError(f"{option('encoding')}{encoding!r}: unknown encoding (try utf-8, cp1252, latin-1, utf-16)") from None
    if not info._is_text_encoding or info.name in NOT_FILE_ENCODINGS:
        raise InputError(f"{option('encoding')}{encoding!r}: not a text encoding a CSV file is written in "
                         "(try utf-8, cp1252, latin-1, utf-16)")
    return "utf-8-sig" if info.name in ("utf-8", "utf-8-sig") else info.name


def check_delimiter(delimiter: str) -> str:
    """Return the delimiter; raise InputError unless it is one ASCII character other than a quote
    or a line break (the CSV reader splits bytes, so a delimiter must be one byte)."""
    if len(delimiter) != 1 or not delimiter.isascii():
        raise InputError(f"{option('delimiter')}{delimiter!r}: the delimiter must be one ASCII character (one byte), "
                         "such as , ; | or tab")
    if delimiter in "\"\r\n":
        raise InputError(f"{option('delimiter')}{delimiter!r}: a quote or a line break cannot separate fields; "
                         "give , ; | or tab")
    return delimiter


def _check_byte_order_mark(head: bytes, name: str, codec: str) -> None:
    """Raise when `codec` needs a byte-order mark (utf-16, utf-32) the file does not start with,
    naming the little- or big-endian encoding to pass instead."""
    width = 2 if codec == "utf-16" else 4
    marks = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) if width == 2 else (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
    if head.startswith(marks):
        return
    sample = head[: 4096 - 4096 % width]
    big = sample[0::width].count(0) > sample[width - 1 :: width].count(0)  # ASCII text big-endian: the zeros come first
    raise InputError(f"{name}: the file has no byte-order mark, so {codec} does not say its byte order; "
                     f"pass {option('encoding')}{codec}-{'be' if big else 'le'}")


def _refuse_binary(head: bytes, name: str) -> None:
    """Raise when the start of a UTF-8 file is UTF-16 text, or binary: a NUL in the header row or
    in more than 1% of the first 4 KiB. A few NULs in data rows only exclude those rows (csvfile)."""
    sample = head[:4096]
    if b"\x00" not in sample:
        return
    # Text in UTF-16 without a byte-order mark has a zero in every other byte.
    if sample[1::2].count(0) > 0.9 * len(sample[1::2]):
        raise InputError(f"{name}: the file looks like UTF-16 text; pass {option('encoding')}utf-16-le")
    if sample[0::2].count(0) > 0.9 * len(sample[0::2]):
        raise InputError(f"{name}: the file looks like UTF-16 text; pass {option('encoding')}utf-16-be")
    end = _header_end(head) or len(head)
    if b"\x00" in head[:end]:
        raise InputError(f"{name}: the header row holds a NUL byte: this looks like a binary file, not a CSV export")
    if sample.count(0) > len(sample) // 100:
        raise InputError(f"{name}: this looks like a binary file, not a CSV export (NUL bytes in its first 4 KiB)")


def read_header(head: bytes, name: str, encoding: str | None, delimiter: str | None) -> tuple[list[str], str]:
    """Return the header's column names and the delimiter (given, or sniffed from the header)."""
    if not head.strip(b"\r\n\t \xef\xbb\xbf"):
        raise InputError(f"{name}: the file is empty; expected a CSV export with a header row")
    codec = python_codec(encoding)
    if delimiter is not None:
        check_delimiter(delimiter)
    if codec in ("utf-16", "utf-32"):
        _check_byte_order_mark(head, name, codec)
    if codec == "utf-8-sig":
        if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
            raise InputError(f"{name}: this is an Excel workbook, not CSV; save it as CSV (UTF-8) first")
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InputError(f"{name}: the file is UTF-16 text; pass {option('encoding')}utf-16")
        _refuse_binary(head, name)
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        text = decoder.decode(head, final=False)
    except UnicodeDecodeError as exc:
        line = head[: exc.start].count(b"\n") + 1
        raise encoding_hint(name, encoding, f" (line {line} has bytes it cannot decode)") from None
    except UnicodeError as exc:  # a codec's own complaint, not a byte it cannot decode
        raise encoding_hint(name, encoding, f" ({exc})") from None
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
