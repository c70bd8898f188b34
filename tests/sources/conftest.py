"""Shared by the source tests: an export and its definitions, written and read as a run reads them."""

from __future__ import annotations

import pytest

from funnelcli import api, definitions


@pytest.fixture
def load(write):
    """Return a loader: (export text, definitions text, file name) -> LoadedExport."""

    def _load(content: str, defs_text: str, name: str = "export.csv"):
        defs = definitions.load([str(write("defs.yml", defs_text))])
        return api.read_export(str(write(name, content)), defs)

    return _load
