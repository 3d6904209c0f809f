"""Layer 4: the SMTP server shell (per-connection loop, DNS lookups for the policy)."""
