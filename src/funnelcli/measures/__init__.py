"""Measures: what the commands report, as plain rows in the report model of `model.py`.

`purgatory`, `trends`, `markets` and `targets` compute rows from a `Funnel`; `reports` assembles
them into `Report`s with titles, columns and notes; `keys` names the row keys that one module
writes and another reads. Imports `definitions`, `engine` and `errors`; never `output`: a report
is renderer-free.
"""
