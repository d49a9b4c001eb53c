"""Thin route modules: parse (deps), call the core, shape the response."""
