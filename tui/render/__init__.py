"""Every drawing that is not a console: the report as text (rich tables, plotext charts),
Markdown, HTML and SVG, drawn from the neutral layout of sessions/report/layout.py; an
answer as Markdown or raw text and how it ended (answer_text, shared by both consoles and
`replay --headless`); a comparison's opening lines. Nothing here computes a number.
"""
