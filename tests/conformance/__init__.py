"""The client against the shared protocol: vectors, schemas, the official SDK."""
