"""The mail queue: Postfix's queue directories, queue IDs and one file per message.

``record`` (the queue-file format) and ``queue_id`` are pure (layer 2); ``store`` is the shell
that reads and writes the directories (layer 4) and the only module that writes them.  This
package module imports nothing, so that importing a pure module never drags in the store.
"""
