"""The handler framework: base class, type registry, job service and the plugin-facing manager."""
