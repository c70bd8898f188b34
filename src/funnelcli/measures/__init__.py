"""Measures: what the commands report, as plain rows in the report model of `model.py`.

`purgatory`, `trends`, `markets` and `targets` compute rows from a `Funnel`; `reports` assembles
them into `Report`s with titles, columns and notes (purgatory's, trends' and the digest's in
`purgatory_report`, `trends_report` and `digest_report`, the parts they share in `report_parts`);
`keys` names the row keys that one module writes and another reads. Imports `definitions`,
`engine` and `errors`; never `output`: a report is renderer-free.
"""
