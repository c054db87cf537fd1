"""What happened: the event log and its writer, runs, replay, comparisons and reports.

core/ (the log: events, store, fold, the Session writer), run/ (a run's lifecycle: config,
launch, prompts, generator, judging, replay, probes, review, export), compare/ (comparisons
of run sessions) and report/ (the report document and its layout). compare and report are
built on core. Nothing here imports a UI toolkit or a model library at module level.
"""
