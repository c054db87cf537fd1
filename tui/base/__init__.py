"""What both consoles share: the ConsoleApp base (leaving, labels through the Session, the
status of a key that did nothing, failures in the background), the background recompute of
running figures, the keys help screen, and how an answer's text is shown (Markdown or raw).

The run console (tui/console/) and the A/B console (tui/compare/) build on it; it imports
neither of them, nor the command line.
"""
