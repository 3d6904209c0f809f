"""Prometheus metrics (metrics_http_address): counted from the log lines, served over HTTP.

Nothing here imports prometheus_client at package import: with metrics off it is never loaded.
"""
