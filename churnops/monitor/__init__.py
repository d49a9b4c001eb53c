"""Drift monitoring: the newest prediction-log records against the training statistics.

- :mod:`.tail`    read the last N records of a (rotated) JSON-lines log by seeking back from its end
- :mod:`.records` parse and schema-check one log line
- :mod:`.drift`   the rules (z, effect size, PSI, chi-square, prediction drift), the report and its table
- :mod:`.check`   the whole check: log + stats + rules -> report and plot data

Nothing is imported here, so ``import churnops.monitor`` stays instant.
"""
