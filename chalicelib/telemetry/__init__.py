"""Logs and traces: the context each line carries, the JSON form of a line, the trace header."""
