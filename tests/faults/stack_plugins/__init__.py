"""The plugins package of the API process the deploy scenario starts (TICKWORK_PLUGINS_PACKAGE)."""
