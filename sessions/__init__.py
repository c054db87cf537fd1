"""What happened: prompt sets in, the event log out, the Session, Generator and JudgePool, replay and exports.

Nothing here imports a UI toolkit or a model library at module level.
"""
