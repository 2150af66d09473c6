"""End-to-end tests: the embedded stack as a real process, spoken to over real HTTP."""
