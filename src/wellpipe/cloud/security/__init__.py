"""The cloud's cryptography: token encryption at rest (and, beside it, API-key hashing).

No FastAPI and no database here: pure functions and small value types.
"""
