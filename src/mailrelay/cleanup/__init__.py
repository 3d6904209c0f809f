"""Layer 3: what Postfix's cleanup(8) does to a message on its way into the queue.

Pure functions over bytes and values: the smtpd shell and ``sendmail``'s pickup call
:func:`mailrelay.cleanup.message.cleanup`, and ``trace`` and the tests call the same code.
"""
