"""The log core: what happened, as one append-only event log and its fold.

events (the typed events and their schema), store (session.toml and events.jsonl: read,
checked, appended, fsynced), state (the fold of a run's log into item states), session (the
one writer: record, bind labels to the answer they were given on, publish), progress (what
is shown but never saved), item (the prompt-set item every event is about), files (strict
JSONL, formula-safe CSV, atomic replacement), inert (untrusted text made harmless to show),
version. Runs, comparisons and reports are built on this and never on each other.
"""
