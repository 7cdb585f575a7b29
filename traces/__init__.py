"""Traces from Jaeger's query API (the traces issue builds this app out)."""
