"""Experiments: the command line, config composition, sweeps and reports."""


def _pin_numpy_dispatch() -> None:
    """numpy's AVX-512 loops off before anything here loads numpy: the same bits on every
    x86-64 machine (:mod:`sim.numpy_dispatch` explains; the command line loads numpy, through
    pyarrow, before it imports :mod:`sim`). The module is run from its file: importing it as
    ``sim.numpy_dispatch`` would first run ``sim/__init__`` (the config's models, ≈ 0.5 s),
    which commands such as ``viralchain --help`` do not need."""
    import importlib.util
    from pathlib import Path

    sim = importlib.util.find_spec("sim")  # found, not run
    path = Path(sim.origin).parent / "numpy_dispatch.py"
    spec = importlib.util.spec_from_file_location("_viralchain_numpy_dispatch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.pin()


_pin_numpy_dispatch()
