"""Use cases of the cloud (no FastAPI here): accounts, connections, keys, limits, health, audit."""
