"""Drift monitoring: the newest prediction-log lines against the training statistics.

:mod:`.check` is the whole check (logs + stats + rules -> report); the training statistics are
:mod:`churnops.core.trainstats`. Nothing is imported here, so ``import churnops.monitor`` stays instant.
"""
