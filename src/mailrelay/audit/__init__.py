"""Layer 3: what ``mailrelay check`` knows about risky settings, as pure functions.

Each rule takes a :class:`~mailrelay.config.model.Config` (and, where it needs the file system,
plain facts gathered by the command) and returns findings that name the parameter and the
file and line that set it.  The command prints them; ``trace`` and tests call the rules directly.
"""
