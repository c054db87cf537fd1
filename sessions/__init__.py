"""What happened: prompt sets in, the event log out, the runner, replay and exports.

Nothing here imports a UI toolkit or a model library at module level.
"""
