"""tracline capture bootstrap, put on ``PYTHONPATH`` by ``tracline run``.

It installs the audit hooks of ``tracline/capture/_hooks.py`` when ``TRACLINE_CAPTURE_LOG``
is set, takes its own folder back off ``sys.path``, then runs the ``sitecustomize`` it
shadows, if there is one. It never raises: a failure leaves the program unobserved.
"""

import os
import sys


def _tracline_boot() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        if os.environ.get("TRACLINE_CAPTURE_LOG"):
            import types
            from importlib.machinery import SourceFileLoader

            path = os.path.join(os.path.dirname(here), "_hooks.py")
            loader = SourceFileLoader("_tracline_capture_hooks", path)
            module = types.ModuleType(loader.name)
            module.__file__, module.__loader__ = path, loader
            sys.modules[loader.name] = module
            loader.exec_module(module)
            module.start_child()
    except OSError:  # the capture log cannot be written (full disk): the parent says so
        pass
    except Exception as e:  # noqa: BLE001 - the user's program runs even if capture cannot
        sys.stderr.write(f"tracline: warning: this process is not observed: {e}\n")
    sys.path[:] = [p for p in sys.path if not p or os.path.abspath(p) != here]
    _chain(here)


def _chain(here: str) -> None:
    """Run the next ``sitecustomize`` on the path (the one this file shadows)."""
    import importlib.machinery

    path = [p for p in sys.path if p and os.path.abspath(p) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None or spec.origin == os.path.abspath(__file__):
        return
    import types

    module = types.ModuleType("sitecustomize")
    module.__file__, module.__spec__ = spec.origin, spec
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_tracline_boot()
