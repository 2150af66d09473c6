"""The HTTP layer: Chalice blueprints. The only place that knows HTTP statuses."""
