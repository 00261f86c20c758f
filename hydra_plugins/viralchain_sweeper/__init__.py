"""viralchain's Hydra plugins: the sweeper (``hydra/sweeper=viralchain``) and the search path.

Hydra finds plugins by scanning the ``hydra_plugins`` namespace package (its documented
plugin mechanism); this package is installed with viralchain (setup.py).
"""
