"""How text is produced: llama.cpp, transformers, OpenAI-compatible servers, replay.

Each engine module imports its heavy library inside the functions that need it,
so `import engines` and the registry stay instant.
"""
