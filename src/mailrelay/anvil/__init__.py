"""Layer 4: anvil(8), the connection and rate counters shared by every smtpd worker."""
