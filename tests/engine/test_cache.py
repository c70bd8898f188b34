"""The opt-in cache of the loaded lead table (issue 13, point 4): a second run on the same inputs
reuses it; a changed export, joined file or definition never gets a stale number."""

from __future__ import annotations

import json
import os
import pickle

import pytest
from tests.conftest import run

from funnelcli import api, definitions, sources

DEFS = """\
version: 1
columns: {id: Id, owner: Owner}
stages:
  - {name: MQL, date: MQL, sla_days: 3}
  - {name: SAL, date: SAL}
"""
EXPORT = "Id,Owner,MQL,SAL\n1,Ann,2024-01-02,2024-01-03\n2,Bob,2024-01-02,\n3,Cy,2024-01-04,\n"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("FUNNELCLI_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def files(write):
    return write("export.csv", EXPORT), write("defs.yml", DEFS)


def reached(loaded) -> list[int]:
    return [int(n) for n in loaded.reached[loaded.usable].sum(axis=0)]


def test_a_second_load_reuses_the_first(files, cache_dir, monkeypatch):
    export, defs_path = files
    defs = definitions.load([str(defs_path)])
    first = api.read_export(export, defs, cache=True)
    assert len(list(cache_dir.glob("*.pickle"))) == 1

    def no_reading(*args, **kwargs):
        raise AssertionError("read the export again")

    monkeypatch.setattr(sources, "read", no_reading)
    second = api.read_export(export, defs, cache=True)
    assert reached(second) == reached(first) == [3, 1]
    with pytest.raises(AssertionError, match="read the export again"):
        api.read_export(export, defs)  # without cache: always read


def test_a_table_loaded_by_other_code_is_not_read(tmp_path, files, cache_dir, monkeypatch):
    # funnelcli's version stays 0.1.0 from one checkout (or an editable install's edit) to the next,
    # while how a table is loaded changes: the key has a digest of its own source. A copy of the
    # package: its digest, then the same with one line of a source file changed.
    import importlib.util
    import shutil
    from pathlib import Path

    from funnelcli.engine import cache

    package = Path(cache.__file__).resolve().parent.parent
    copy = tmp_path / "copy" / "funnelcli"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    spec = importlib.util.spec_from_file_location("copied_cache", copy / "engine" / "cache.py")
    copied = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(copied)
    before = copied.code_digest()
    assert before == cache.code_digest()  # the same source, the same digest
    history = copy / "sources" / "history.py"
    history.write_text(history.read_text() + "\n# a change\n")
    assert copied.code_digest() != before
    # and the key follows it: a load stored under one code digest is not found under another
    export, defs_path = files
    defs = definitions.load([str(defs_path)])
    api.read_export(export, defs, cache=True)
    monkeypatch.setattr(cache, "code_digest", lambda: "other code")
    monkeypatch.setattr(sources, "read", lambda *a, **k: (_ for _ in ()).throw(AssertionError("read again")))
    with pytest.raises(AssertionError, match="read again"):
        api.read_export(export, defs, cache=True)


def test_a_changed_export_is_read_again(files, cache_dir):
    export, defs_path = files
    defs = definitions.load([str(defs_path)])
    assert reached(api.read_export(export, defs, cache=True)) == [3, 1]
    export.write_text(EXPORT + "4,Di,2024-01-05,2024-01-06\n", encoding="utf-8")
    assert reached(api.read_export(export, defs, cache=True)) == [4, 2]


def test_an_edit_that_keeps_size_and_time_is_still_seen(files, cache_dir):
    # Ann's SAL date moved before her MQL date (same length), the modification time put back: the
    # hash of the file's first 64 KiB differs, so the export is read again
    export, defs_path = files
    defs = definitions.load([str(defs_path)])
    assert not any("out of order" in n.reason for n in api.read_export(export, defs, cache=True).notices)
    stat = os.stat(export)
    export.write_text(EXPORT.replace("2024-01-02,2024-01-03", "2024-01-02,2024-01-01"), encoding="utf-8")
    os.utime(export, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (os.stat(export).st_size, os.stat(export).st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert any("out of order" in n.reason for n in api.read_export(export, defs, cache=True).notices)


def test_an_edit_in_the_middle_that_keeps_size_and_time_is_still_seen(files, write, cache_dir):
    # a file over 128 KiB, one status changed in the middle (outside the hashed 64 KiB at each end),
    # same size, the modification time put back: the change time moved, so it is read again (the
    # old load counted the lead as Lost 0 times where the file now has 1)
    filler = "".join(f"{i},Ann,2024-01-02,2024-01-03,open\n" for i in range(10, 10_010))
    export = write("big.csv", "Id,Owner,MQL,SAL,Status\n" + filler)
    defs = definitions.load([str(write("lost.yml", DEFS + "exits:\n  - {name: Lost, when: {Status: {in: [lost]}}}\n"))])
    middle = export.stat().st_size // 2
    assert 64 * 1024 < middle < export.stat().st_size - 64 * 1024

    def lost(loaded) -> int:
        return int((loaded.exit_met[0] & loaded.usable).sum())

    assert lost(api.read_export(export, defs, cache=True)) == 0
    stat = os.stat(export)
    data = export.read_bytes()
    at = data.index(b",open\n", middle)
    export.write_bytes(data[:at] + b",lost\n" + data[at + len(b",open\n"):])
    os.utime(export, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (os.stat(export).st_size, os.stat(export).st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert lost(api.read_export(export, defs, cache=True)) == 1


def test_changed_definitions_are_not_served_an_old_load(files, write, cache_dir):
    # MQL dated by the SAL column instead: only lead 1 has one
    export, defs_path = files
    assert reached(api.read_export(export, definitions.load([str(defs_path)]), cache=True)) == [3, 1]
    other = write("other.yml", DEFS.replace("{name: MQL, date: MQL", "{name: MQL, date: SAL"))
    assert reached(api.read_export(export, definitions.load([str(other)]), cache=True)) == [1, 1]
    assert len(list(cache_dir.glob("*.pickle"))) == 2


@pytest.mark.parametrize("junk", [b"not a pickle", pickle.dumps({"a": 1})])  # garbage, and a pickle of something else
def test_a_broken_cache_entry_is_ignored_and_replaced(files, cache_dir, junk):
    export, defs_path = files
    defs = definitions.load([str(defs_path)])
    api.read_export(export, defs, cache=True)
    (entry,) = cache_dir.glob("*.pickle")
    entry.write_bytes(junk)
    assert reached(api.read_export(export, defs, cache=True)) == [3, 1]
    assert entry.read_bytes() != junk


def test_cli_cache_flag_and_environment_agree(files, cache_dir):
    export, defs_path = files
    plain = json.loads(run("conversion", export, "-d", defs_path, "-f", "json", "-q").stdout)
    flag = json.loads(run("conversion", export, "-d", defs_path, "-f", "json", "-q", "--cache").stdout)
    env = json.loads(run("conversion", export, "-d", defs_path, "-f", "json", "-q", env={"FUNNELCLI_CACHE": "1"}).stdout)
    assert plain["tables"] == flag["tables"] == env["tables"]
    assert len(list(cache_dir.glob("*.pickle"))) == 1
