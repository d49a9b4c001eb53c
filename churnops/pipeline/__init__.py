"""The stages' pure cores: generate, prepare, training, export, scoring, evaluation.

They import only :mod:`churnops.core`; ``stages/*.py`` call them.
"""
