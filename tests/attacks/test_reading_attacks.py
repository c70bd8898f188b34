"""Reading hostile exports (issue 11, item 7): every case is read right or refused with a message
naming the file or option and what to do (exit 2), never an internal error, a hang or a false
"missing column"; `validate --data` says what the run says.

The exports are tests/fixtures/small.csv changed in one way each; its numbers (tests/test_funnel.py)
must come out unchanged wherever the change is only in how the file is written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tests.conftest import FIXTURES, ROOT, run

from funnelcli.errors import InputError
from funnelcli.sources import sniff

CSV = FIXTURES / "small.csv"
DEFS = str(FIXTURES / "small.yml")
TEXT = CSV.read_text(encoding="utf-8")
HEADER, *ROWS = TEXT.splitlines()


def conversion(export, *args, input=None):
    return run("conversion", export, "-d", DEFS, "-f", "csv", *args, input=input)


@pytest.fixture(scope="module")
def expected() -> str:
    """The conversion table of small.csv as it is: what a differently written copy must give."""
    result = conversion(CSV, "-q")
    assert result.exit_code == 0, result.stderr
    return result.stdout


def refused(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return result.stderr


def refused_with_nothing_written(tmp_path: Path, export: Path, *args: str, fragments=()) -> str:
    """Run with -o into tmp_path; assert exit 2 and that only the inputs are left in the folder."""
    before = sorted(p.name for p in tmp_path.iterdir())
    stderr = refused(conversion(export, *args, "-o", str(tmp_path / "report.csv")), *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    return stderr


def validate_data(export, *args):
    return run("validate", DEFS, "--data", export, *args)


# --------------------------------------------------------------------------------------------
# Long headers and long fields


def test_a_header_longer_than_64_kib_is_read_whole(tmp_path, expected):
    # A first column named with 70,000 characters pushed every other name past the 64 KiB the
    # header was read from: all 13 columns were "missing".
    export = tmp_path / "wide.csv"
    export.write_text("N" * 70_000 + "," + HEADER + "\n" + "".join(f"x,{r}\n" for r in ROWS))
    result = conversion(export, "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected
    assert validate_data(export).exit_code == 0


def test_a_long_header_with_a_line_break_in_a_quoted_name(tmp_path, expected):
    export = tmp_path / "wide.csv"
    export.write_text('"Notes\n' + "n" * 70_000 + '",' + HEADER + "\n" + "".join(f"x,{r}\n" for r in ROWS))
    result = conversion(export, "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected


@pytest.mark.parametrize("where", ["a column the run does not read", "the owner column"])
def test_a_10_mb_field_does_not_refuse_a_valid_csv(tmp_path, expected, where):
    # pyarrow reads in 4 MiB blocks: a longer record "straddles" one and was refused.
    big = "y" * 10_000_000
    if where == "the owner column":
        rows = [r.replace(",Bob,", f",{big},", 1) if r.startswith("2,") else r for r in ROWS]
        export_text = HEADER + "\n" + "\n".join(rows) + "\n"
    else:
        export_text = HEADER + ",Notes\n" + "\n".join(r + (f',"{big}"' if r.startswith("3,") else ",n") for r in ROWS) + "\n"
    assert big in export_text
    export = tmp_path / "big-field.csv"
    export.write_text(export_text)
    result = conversion(export, "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected
    assert validate_data(export).exit_code == 0


# --------------------------------------------------------------------------------------------
# Encodings


@pytest.mark.parametrize("codec, given, told", [
    ("utf-16-le", "utf-16", "utf-16-le"), ("utf-16-be", "utf-16", "utf-16-be"),
    ("utf-32-le", "utf-32", "utf-32-le"), ("utf-32-be", "UTF-32", "utf-32-be"),
])
def test_utf_16_without_a_byte_order_mark_names_the_byte_order(tmp_path, codec, given, told, expected):
    export = tmp_path / "no-bom.csv"
    export.write_bytes(TEXT.encode(codec))
    refused_with_nothing_written(tmp_path, export, "--encoding", given,
                                 fragments=["no-bom.csv: the file has no byte-order mark", f"pass --encoding {told}"])
    refused(validate_data(export, "--encoding", given), f"pass --encoding {told}")
    # and what it says works
    assert conversion(export, "-q", "--encoding", told).stdout == expected


@pytest.mark.parametrize("codec", ["rot13", "base64", "hex", "zlib", "bz2", "quopri", "uu", "undefined", "punycode", "idna",
                                   "unicode_escape", "raw-unicode-escape"])
def test_codecs_that_are_no_file_encoding_are_refused(tmp_path, codec):
    export = tmp_path / "export.csv"
    export.write_text(TEXT)
    refused_with_nothing_written(tmp_path, export, "--encoding", codec,
                                 fragments=[f"--encoding '{codec}': not a text encoding a CSV file is written in", "try utf-8"])
    refused(validate_data(export, "--encoding", codec), "not a text encoding")


def test_an_unknown_encoding_is_named(tmp_path):
    refused(conversion(CSV, "--encoding", "klingon"), "--encoding 'klingon': unknown encoding")


def test_exotic_but_real_encodings_still_read(tmp_path, expected):
    for codec in ("cp037", "utf-7", "mac-roman"):  # EBCDIC has no b"\n" at all
        export = tmp_path / f"{codec}.csv"
        export.write_bytes(TEXT.encode(codec))
        result = conversion(export, "-q", "--encoding", codec)
        assert result.exit_code == 0 and result.stdout == expected, (codec, result.stderr)


# --------------------------------------------------------------------------------------------
# Delimiters


@pytest.mark.parametrize("delimiter", ["é", "€", "→"])
def test_a_non_ascii_delimiter_is_refused_by_the_run_and_validate_alike(tmp_path, delimiter):
    export = tmp_path / "export.csv"
    export.write_text(TEXT.replace(",", delimiter))
    message = f"--delimiter '{delimiter}': the delimiter must be one ASCII character (one byte)"
    refused_with_nothing_written(tmp_path, export, "--delimiter", delimiter, fragments=[message])
    refused(validate_data(export, "--delimiter", delimiter), message)  # it called the file fine


def test_a_quote_cannot_be_the_delimiter(tmp_path):
    refused(conversion(CSV, "--delimiter", '"'), "--delimiter '\"': a quote or a line break cannot separate fields")


# --------------------------------------------------------------------------------------------
# NUL bytes: the row holding one is excluded wherever it is; a file that looks binary is refused


def _with_nul(row: int, copies: int = 0) -> str:
    """small.csv with `copies` more rows like its first (ids 100, 101...), and a NUL in the owner
    of the row numbered `row` (the header is row 1)."""
    extra = [",".join([str(100 + i)] + r.split(",")[1:]) for i, r in enumerate(ROWS[:1] * copies)]
    rows = ROWS + extra
    rows[row - 2] = rows[row - 2].replace(",Ann,", ",A\x00nn,", 1)
    assert "\x00" in rows[row - 2]
    return HEADER + "\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize("row", [2, 412])
def test_a_nul_byte_excludes_its_row_early_or_late(tmp_path, row):
    # Before: a NUL in the first 4 KiB refused the whole file, one later passed into the value.
    # Now both exclude their row, counted, with its row number; the other rows are the report.
    export = tmp_path / "nul.csv"
    export.write_text(_with_nul(row, copies=500))
    assert (export.read_bytes().index(b"\x00") < 4096) == (row == 2)
    result = conversion(export)
    assert result.exit_code == 0, result.stderr
    assert f"nul.csv: excluded 1 row with a NUL byte (binary data) in a cell (row {row})" in result.stderr
    assert "is the row damaged" in result.stderr
    text = run("conversion", export, "-d", DEFS, "-f", "text", "-q").stdout  # every row accounted for
    assert f"{len(ROWS) + 500} rows read = " in text
    assert "1 with a NUL byte (binary data) in a cell" in text
    strict = refused(conversion(export, "--strict"), "NUL byte")
    assert f"row {row})" in strict


def test_a_nul_in_the_header_or_many_early_refuse_the_file(tmp_path):
    export = tmp_path / "bin.csv"
    export.write_bytes(HEADER.replace("Country", "Coun\x00try").encode() + b"\n" + "\n".join(ROWS).encode())
    refused_with_nothing_written(tmp_path, export, fragments=["bin.csv: the header row holds a NUL byte", "binary file"])
    export.write_bytes(TEXT.encode() + b"\x00\x01\x02\x03" * 200)
    refused_with_nothing_written(tmp_path, export, fragments=["bin.csv: this looks like a binary file", "NUL bytes in its first 4 KiB"])


def test_every_row_with_a_nul_is_a_binary_file(tmp_path):
    export = tmp_path / "all.csv"
    export.write_text(HEADER + "\n" + "\n".join("\x00" + r for r in ROWS[:3]) + "\n" + "a" * 5000 + "\n")
    refused(conversion(export), "all.csv:")


# --------------------------------------------------------------------------------------------
# Pipes, FIFOs, devices, stdin


def _feed(path: str, data: bytes) -> threading.Thread:
    def write():
        with open(path, "wb") as handle:
            handle.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_a_named_fifo_is_read_once_as_a_stream(tmp_path, expected):
    # It hung: the header was read from one opening and the data from a second.
    fifo = tmp_path / "export.csv"
    os.mkfifo(fifo)
    writer = _feed(str(fifo), TEXT.encode())
    result = conversion(fifo, "-q")
    writer.join(timeout=5)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected


def test_process_substitution_dev_fd(expected):
    # `funnelcli conversion <(cat leads.csv)` names /dev/fd/63, a pipe: an internal error before.
    read_end, write_end = os.pipe()
    try:
        def write():
            with os.fdopen(write_end, "wb") as handle:
                handle.write(TEXT.encode())

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        result = conversion(f"/dev/fd/{read_end}", "-q", "--cache")  # no cache for a pipe: fingerprinting would eat it
        writer.join(timeout=5)
    finally:
        os.close(read_end)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected


def test_validate_data_reads_a_fifo_too(tmp_path):
    fifo = tmp_path / "export.csv"
    os.mkfifo(fifo)
    writer = _feed(str(fifo), TEXT.encode())
    result = validate_data(fifo)
    writer.join(timeout=5)
    assert result.exit_code == 0, result.output
    assert "row 9" in result.stdout  # its one warning: it read the rows, not an empty pipe


def test_a_device_is_refused_without_reading_it(tmp_path):
    refused_with_nothing_written(tmp_path, Path("/dev/zero"), fragments=["/dev/zero: is a device, not a CSV export"])
    refused(conversion("/dev/null"), "the file is empty")


def test_closed_stdin_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(InputError, match="stdin is closed"):
        sniff.open_export("-")


@pytest.mark.slow  # starts an interpreter (about a second)
def test_closed_stdin_from_a_shell(tmp_path):
    command = f"{sys.executable} -m funnelcli conversion - -d {DEFS} -o {tmp_path / 'out.csv'} <&-"
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 2, result.stderr
    assert "funnelcli: error: stdin is closed: pipe the export in" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []
