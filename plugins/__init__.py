"""Plugins: each sub-package defines ``initialize_plugin(job_manager)`` (see README, "Plugins")."""
