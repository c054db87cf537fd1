"""The A/B console: two answers to one prompt, voted on blind with single keys.

`app` (CompareApp: the console on a Comparison), `view` (what it draws: the prompt, the
answers, votes and verdicts by the shown number), `compare.tcss`. Built on tui/base.
"""
