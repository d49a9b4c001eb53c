"""Foundations every other folder imports: schema, params, I/O, errors, stage runner, log format, metrics rule.

Modules here import nothing above them (no pipeline, monitor, service, versioning or commands).
"""
