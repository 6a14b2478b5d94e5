"""The salescope web service: app factory, settings, logging, middleware, CLI."""
