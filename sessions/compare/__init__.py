"""Comparisons of run sessions: pairs of answers to the same prompt, judged and voted on.

comparison (the comparison session: pairs, votes, stale sources), judging (pairwise judges in
both orders), summary (win rates, biases and ratings per pair of sessions), stats (the
numbers behind them), export (pairs as CSV/JSONL, DPO rows). Built on sessions.core only.
"""
