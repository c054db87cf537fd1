"""Every drawing of a report: text (rich tables, plotext charts), Markdown, HTML and SVG.

The presentation layer draws the neutral layout of sessions/report/layout.py; nothing here
computes a number.
"""
