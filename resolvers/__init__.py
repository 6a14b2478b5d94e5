"""Request context, DataLoaders and resolve_* functions over the analytics layer."""
