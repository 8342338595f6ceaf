"""Payment gateway clients: plain HTTP clients that know nothing of Flask or the database."""
