"""How a response is judged: rubric, LLM judges, checks, metrics, agreement."""
