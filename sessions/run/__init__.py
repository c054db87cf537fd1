"""A run's lifecycle: from the command's options to a finished session.

config (RunConfig: flags, a TOML file and a resumed header, merged), launch (open a run or a
replay: engine, judges, session), prompts (prompt sets read from JSONL, JSON or CSV), generator
(asks the engine, streams, records), judging (judges and checks on finished answers), replay
(a saved session played as a source), probes (blind re-rating of a sample), review (what is
scored, what disagrees, the running agreement), export (one row per item).
"""
