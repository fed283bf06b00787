"""The stdio front's precomputed answers are exactly what the SDK server says."""

from __future__ import annotations

from wellpipe.mcp.static import generate, load


async def test_static_answers_match_the_sdk_server() -> None:
    # Stale after a tool or version change: regenerate with `python -m wellpipe.mcp.static`.
    assert load() == await generate()


def test_every_handshake_revision_is_answered_with_itself() -> None:
    negotiated = load()["negotiated"]
    for version in ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"):
        assert negotiated[version] == version
    assert negotiated["*"] == "2025-11-25"  # an unknown revision gets the newest handshake one
