"""The smtp client's TLS policy: security levels, smtp_tls_policy_maps, name matching."""
