"""askAI defaults, in a module light enough for the settings to import."""

from __future__ import annotations

# Small, fast, tool-calling, and spends no hidden reasoning tokens out of
# ``max_completion_tokens``.
DEFAULT_MODEL = "gpt-4.1-mini"
