"""Engine: the canonical lead table and the funnel at an as-of date.

`leads` applies the stage, exit and market rules (declarative conditions, evaluated by
`sources.conditions`) and the evidence of the export's shape (a status column, flags, a log) to the
typed fields of `sources`: own evidence, implied stages, effective dates; `funnel` replays the table at an as-of date and gives the four buckets, rates
and velocity per segment (docs/metrics.md#the-four-buckets). Everything runs on numpy
(leads x stages) matrices, never a Python loop over leads. Imports `definitions`, `sources` and
`errors`; never `measures` or `output`.
"""
