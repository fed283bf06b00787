"""Wellpipe: let AI assistants read your own wearable health data.

The public surface is the provider-neutral core: models, the two ports
(`TokenProvider`, `HealthProvider`), the error tree and `__version__`.
Providers, the sandbox, the CLI and the cloud live in subpackages.
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from wellpipe.core import *  # noqa: F403  (the core's __all__ is the public surface)
from wellpipe.core import __all__ as _core_all

try:
    __version__ = _version("wellpipe")
except _PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__", *_core_all]
