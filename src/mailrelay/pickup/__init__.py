"""Layer 4: Postfix's pickup(8), which moves local submissions from maildrop into the queue.

``mailrelay sendmail`` writes one file into maildrop and pokes ``public/pickup``;
:func:`mailrelay.pickup.service.run_pickup` (run by the daemon) copies each maildrop file
through cleanup into incoming.
"""
