"""Layer 5: the process model (Postfix's master): listening sockets, workers, signals."""
