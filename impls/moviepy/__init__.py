"""MoviePy renderers: the baseline, and the parallel ``disk``, ``pipe`` and ``chunk``."""
