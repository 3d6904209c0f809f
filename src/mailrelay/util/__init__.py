"""Layer 1: knows nothing about mail (durable files, units, addresses of hosts, diagnostics)."""
