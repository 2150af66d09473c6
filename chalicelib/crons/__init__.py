"""Cron jobs: the expression language (expression, description), the stored cron job (model,
store, service), and the minute tick that fires its slots as background jobs (tick, firing, gate,
outcomes, declarations)."""
