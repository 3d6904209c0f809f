"""mailrelay: a centralized outbound mail relay configured exactly like a Postfix relay."""

__version__ = "0.1.0"
