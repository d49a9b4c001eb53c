"""Drift monitoring: the newest prediction-log lines against the training statistics.

- :mod:`.tail`    read the newest N lines of one or several (rotated) JSON-lines logs by seeking back from their end
- :mod:`.records` classify one log line: structure from :mod:`churnops.core.logformat`, each value against the schema
- :mod:`.quality` the window's data quality (invalid shares, unseen categories) and the drift rules' columns
- :mod:`.rules`   the drift rules, pure functions: z, PSI against its noise level, chi-square, prediction drift
- :mod:`.report`  a window's report from the rules (status, message, flagged) and its headline metric
- :mod:`.plots`   the report's plot data: training and recent share per bin, per feature
- :mod:`.check`   the whole check: logs + stats + rules -> report, headline and plot data
- :mod:`.table`   the report as a terminal table (``churnops monitor``; not part of the stage)

The training statistics they compare with are :mod:`churnops.core.trainstats`.

Nothing is imported here, so ``import churnops.monitor`` stays instant.
"""
