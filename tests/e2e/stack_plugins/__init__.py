"""Plugins for end-to-end stacks started with TICKWORK_PLUGINS_PACKAGE=tests.e2e.stack_plugins."""
