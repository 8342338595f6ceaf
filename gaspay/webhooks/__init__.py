"""Gateway events in: verify the signature first, then hand over to the payments services."""
