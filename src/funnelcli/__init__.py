"""funnelcli: funnel metrics from CRM lead exports, by definitions kept in YAML.

The Python API, for notebooks and scripts (the command line is built on it)::

    import funnelcli

    f = funnelcli.run("samples/hubspot-contacts.csv", "definitions")
    report = funnelcli.conversion(f, by="source")
    rows = report.table("stages").rows            # plain dicts; .to_frame() for a DataFrame
    print(funnelcli.render(report, "markdown"))
    for finding in f.findings:                    # data-quality facts, never printed
        print(finding)

Step by step: `load_definitions` -> `read_export` -> `funnel` -> a report (`conversion`,
`purgatory`, `markets`, `trends`, `digest`, `plan`) -> `render`, `write_report` or `mail_report`.
`validate` checks definitions (and, given an export, their columns). Errors are `FunnelError`
and its subclasses. Names load on first use: `import funnelcli` does not import pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# name -> the module that defines it
_API = {
    "load_definitions": "funnelcli.api", "validate": "funnelcli.api", "read_export": "funnelcli.api",
    "funnel": "funnelcli.api", "run": "funnelcli.api", "conversion": "funnelcli.api", "purgatory": "funnelcli.api",
    "markets": "funnelcli.api", "trends": "funnelcli.api", "digest": "funnelcli.api", "missed_targets": "funnelcli.api",
    "render": "funnelcli.api", "write_report": "funnelcli.api", "mail_report": "funnelcli.api",
    "Finding": "funnelcli.api", "Validation": "funnelcli.api",
    "run_both": "funnelcli.api", "diff": "funnelcli.api", "changed": "funnelcli.api", "plan": "funnelcli.api",
    "explain": "funnelcli.api", "missing_ids": "funnelcli.api",
    "Definitions": "funnelcli.definitions", "LoadedExport": "funnelcli.engine.leads", "Funnel": "funnelcli.engine.funnel",
    "Report": "funnelcli.measures.model", "Table": "funnelcli.measures.model", "Column": "funnelcli.measures.model",
    "FORMATS": "funnelcli.output.render",
    "FunnelError": "funnelcli.errors", "DefinitionError": "funnelcli.errors", "InputError": "funnelcli.errors",
    "DeliveryError": "funnelcli.errors", "Problem": "funnelcli.errors", "ExitCode": "funnelcli.errors",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'funnelcli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and editors; at run time names load lazily
    from funnelcli.api import (  # noqa: F401
        Finding,
        Validation,
        changed,
        conversion,
        diff,
        digest,
        explain,
        funnel,
        load_definitions,
        mail_report,
        markets,
        missed_targets,
        missing_ids,
        plan,
        purgatory,
        read_export,
        render,
        run,
        run_both,
        trends,
        validate,
        write_report,
    )
    from funnelcli.definitions import Definitions  # noqa: F401
    from funnelcli.engine.funnel import Funnel  # noqa: F401
    from funnelcli.engine.leads import LoadedExport  # noqa: F401
    from funnelcli.errors import DefinitionError, DeliveryError, ExitCode, FunnelError, InputError, Problem  # noqa: F401
    from funnelcli.measures.model import Column, Report, Table  # noqa: F401
    from funnelcli.output.render import FORMATS  # noqa: F401
