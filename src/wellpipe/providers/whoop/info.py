"""WHOOP's facts as data."""

from __future__ import annotations

from wellpipe.core.models import DataKind
from wellpipe.core.provider_info import ProviderInfo, RateLimit
from wellpipe.providers.whoop.settings import DEVELOPER_DASHBOARD

__all__ = ["INFO", "READ_SCOPES", "SCOPES"]

READ_SCOPES = (
    "read:recovery",
    "read:cycles",
    "read:workout",
    "read:sleep",
    "read:profile",
    "read:body_measurement",
)
"""WHOOP's data scopes as WHOOP spells them (``read:cycles`` plural, ``read:workout`` singular)."""

SCOPES = (*READ_SCOPES, "offline")
"""What Wellpipe requests: every read scope, plus ``offline`` to receive a refresh token."""

INFO = ProviderInfo(
    name="whoop",
    display_name="WHOOP",
    kinds=frozenset(
        {
            DataKind.SLEEP,
            DataKind.RECOVERY,
            DataKind.WORKOUT,
            DataKind.CYCLE,
            DataKind.PROFILE,
            DataKind.BODY_MEASUREMENT,
        }
    ),
    scopes=SCOPES,
    token_auth_method="client_secret_post",
    rate_limits=(RateLimit(100, 60), RateLimit(10_000, 86_400)),
    developer_portal=DEVELOPER_DASHBOARD,
    kind_scopes=(
        (DataKind.SLEEP, ("read:sleep",)),
        (DataKind.RECOVERY, ("read:recovery",)),
        (DataKind.WORKOUT, ("read:workout",)),
        (DataKind.CYCLE, ("read:cycles",)),
        (DataKind.PROFILE, ("read:profile",)),
        (DataKind.BODY_MEASUREMENT, ("read:body_measurement",)),
    ),
    scope_labels=(
        ("read:recovery", "Recovery"),
        ("read:cycles", "Day strain"),
        ("read:workout", "Workouts"),
        ("read:sleep", "Sleep"),
        ("read:profile", "Profile"),
        ("read:body_measurement", "Body measurements"),
        ("offline", "Stay connected"),
    ),
    unmeasured=(
        (
            DataKind.SLEEP,
            (
                "latency_min",
                "sleep_score_pct",
                "avg_heart_rate_bpm",
                "lowest_heart_rate_bpm",
                "avg_hrv_rmssd_ms",
            ),
        ),
        (DataKind.WORKOUT, ("steps", "active_zone_min", "intensity")),
        (DataKind.PROFILE, ("age", "biological_sex")),
    ),
)
