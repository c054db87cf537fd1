"""The report: one JSON document of every number with its n and interval, and its layout.

document (build_report: the document of run sessions or a comparison), runs (the figures of
run sessions), stats (the bootstrap behind them), layout (the document turned into neutral
sections, tables and charts that every format in tui/render draws). Built on sessions.core
and on the comparison's summary.
"""
