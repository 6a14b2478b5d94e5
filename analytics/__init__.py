"""salescope's analytics: framework-free functions over a dataset's frames."""
