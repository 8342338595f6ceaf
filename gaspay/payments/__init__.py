"""Payment attempts, the transition table, services (start, apply, reconcile), result views."""
