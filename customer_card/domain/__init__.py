"""Plain data: what the card shows and what the services exchange. No Qt, no SQL, no I/O."""
