"""Bills: import, normalisation, lookup; the guest lookup views."""
