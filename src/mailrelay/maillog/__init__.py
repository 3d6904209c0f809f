"""Layer 4: writing Postfix-format log lines (Postfix's postlogd and syslog's line format)."""
