"""Plugin discovery: every ``plugins/<name>/__init__.py`` with ``initialize_plugin(job_manager)``."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from types import ModuleType

from chalicelib.jobs.manager import JobManager

logger = logging.getLogger(__name__)


def discover_plugins(job_manager: JobManager, package: str = "plugins") -> list[ModuleType]:
    """Import each plugin package and let it register its types; returns the modules loaded.

    A plugin that fails to import is logged and skipped: one broken plugin must not take the
    API and every other plugin's jobs down with it.
    """
    try:
        root = importlib.import_module(package)
    except ModuleNotFoundError:
        logger.warning("no %r package: no plugins loaded", package)
        return []
    loaded = []
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if not info.ispkg or info.name.startswith("_"):
            continue
        name = f"{package}.{info.name}"
        try:
            module = importlib.import_module(name)
            init = getattr(module, "initialize_plugin", None)
            if init is None:
                logger.warning("plugin %s has no initialize_plugin(job_manager); skipped", name)
                continue
            init(job_manager)
        except Exception:
            logger.exception("plugin %s failed to initialise; skipped", name)
            continue
        loaded.append(module)
    return loaded
