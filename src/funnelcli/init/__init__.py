"""Init: first definitions written from an export (`funnelcli init`), commented for a person to check.

`sample` reads the header and the first rows (the csv module, no pandas), `dates` finds date
columns and their formats, `columns` profiles every column (ids, flags, few-valued statuses,
placeholders) and guesses its role, `layouts` recognises the CRMs' own exports (HubSpot contacts and
deals, Salesforce leads and opportunity reports, Pipedrive deals; and with `logs` the stage-history
logs: Pipedrive deal changes, Salesforce field history, HubSpot property history) and otherwise
builds a funnel from the guesses, `draft` holds the result and writes it as commented YAML, and
`write` puts it on disk without ever overwriting a file. Imports `errors`, `definitions` (to check
what it writes) and `sources.sniff` (encoding and delimiter); never pandas, the engine, measures or
output.
"""

from __future__ import annotations

from funnelcli.init.write import InitResult, init_definitions

__all__ = ["InitResult", "init_definitions"]
