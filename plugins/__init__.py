"""Plugins: each sub-package defines ``initialize_plugin(job_manager)`` (docs/plugin-guide.md)."""
