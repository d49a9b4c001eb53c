"""churnops: a customer-churn model whose whole life is versioned by Git + DVC.

The package holds the logic; ``stages/`` holds one thin entry point per DVC stage.
Importing it is cheap: heavy libraries are imported by the modules that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"
