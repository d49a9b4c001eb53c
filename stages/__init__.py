"""DVC stage entry points, one thin script per stage.

dvc.yaml runs them as ``python -m stages.<name>`` from the repository root, so Python
puts the checkout first on ``sys.path`` and imports *this* checkout's ``churnops``: in
a clone, a ``git worktree`` or a temporary copy, the code that runs is the code that
``dvc.lock`` hashes, not whatever copy happens to be installed.
"""
