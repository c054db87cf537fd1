"""The adjudicate console: a session's disputed labels, settled by one person (issue 18 §4)."""
