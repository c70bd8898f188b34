"""Output: one renderer per format (`render`), definition problems (`problems`), atomic files
(`files`) and mail (`mail`).

Renderers read the report model of `funnelcli.measures.model`: plain rows, never DataFrames.
Nothing here imports pandas at module level (the CLI imports this package for its options).
May import every layer before it.
"""
