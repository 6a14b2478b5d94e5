"""askAI: questions answered by salescope's own analytics, never by model-written code."""
