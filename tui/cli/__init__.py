"""The command line: `sftscope [run] …`, `replay`, `judge`, `compare`, `report`, `export`.

Argument parsing (`parser`), the entry point (`main`), one module per command (`run`,
`replay`, `judge`, `compare`, `export`, `report`), what they share (`errors`, `output`,
`consoles`) and the headless display (`headless`). None of it imports textual: the
consoles are opened through `consoles`, lazily, and never import the command line
back. Nothing here imports the core or a model library at module level either, so
`sftscope --help` stays instant; every user error ends as one line on stderr and exit
code 2 (`errors.fail`), a traceback is a bug.
"""
