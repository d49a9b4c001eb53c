"""Drift monitoring: the newest prediction-log lines against the training statistics.

- :mod:`.tail`    read the newest N lines of one or several (rotated) JSON-lines logs by seeking back from their end
- :mod:`.records` classify one log line: structure from :mod:`churnops.core.predlog`, each value against the schema
- :mod:`.quality` the window's data quality (invalid shares, unseen categories) and the drift rules' columns
- :mod:`.drift`   the rules (z, PSI against its noise level, chi-square, prediction drift), the report and its table
- :mod:`.check`   the whole check: logs + stats + rules -> report, headline and plot data

Nothing is imported here, so ``import churnops.monitor`` stays instant.
"""
