"""Importing the statistics libraries at the cost of what sftscope uses of them.

scikit-learn's `sklearn.utils.fixes` imports pandas whenever pandas is installed (the hf and
dev extras bring it in), although nothing sftscope calls needs it: the labels are numpy
arrays. On a 2-core machine that is 0.2 s of the 0.35 s scikit-learn takes to import, paid
by every `sftscope report` and `sftscope compare` that computes a kappa or a logistic fit
(bench/session_scale.py times the whole command).

`import_sklearn()` imports scikit-learn once with pandas hidden, so its optional import
fails the way it does where pandas is not installed, then makes pandas importable again.
Hiding a module is only safe while no other thread may import it, so this happens only when
the calling thread is the process's only one (the command line); in the console, which
computes its figures in worker threads, scikit-learn is imported as usual.
"""

from __future__ import annotations

import importlib
import sys
import threading


def import_sklearn() -> None:
    """Import scikit-learn, once, with pandas hidden where that is safe (see above). Its
    submodules (`sklearn.metrics`, `sklearn.linear_model`) are imported by the caller as
    usual: only the package's own start-up (sklearn.utils.fixes) reaches for pandas."""
    if "sklearn" in sys.modules:
        return
    hide = "pandas" not in sys.modules and threading.active_count() == 1
    if hide:
        sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` raises ImportError
    try:
        importlib.import_module("sklearn")
    finally:
        if hide and "pandas" in sys.modules and sys.modules["pandas"] is None:
            del sys.modules["pandas"]
