"""Oura's facts as data.

Scopes, as Oura spells them. The published OpenAPI document (1.35) lists
``email, personal, daily, heartrate, workout, tag, session, spo2Daily``; some
copies of Oura's authentication page have also shown ``spo2``. Wellpipe asks
for ``spo2Daily`` only: it is the name in the machine-readable spec, and an
authorization request naming a scope the server does not know risks being
refused as a whole. If Oura ever renames it, a user simply sees a note that
SpO2 could not be read (the rest of the vitals still arrive). ``tag`` is not
requested: Wellpipe reads no tags.

Which scope covers which route: ``daily`` covers daily sleep, sleep periods,
readiness, activity, stress and VO2 max; ``spo2Daily`` the daily SpO2;
``workout`` workouts; ``session`` sessions; ``heartrate`` the heart-rate
series; ``personal`` and ``email`` the personal info. Stress and VO2 max are
not named in Oura's scope list; they are read under ``daily`` (unverified).
"""

from __future__ import annotations

from wellpipe.core.models import DataKind
from wellpipe.core.provider_info import ProviderInfo, RateLimit
from wellpipe.providers.oura.settings import DEVELOPER_PORTAL

__all__ = ["INFO", "SCOPES"]

SCOPES = ("email", "personal", "daily", "heartrate", "workout", "session", "spo2Daily")
"""What Wellpipe requests. Oura hands out a refresh token without any special scope."""

INFO = ProviderInfo(
    name="oura",
    display_name="Oura",
    kinds=frozenset(
        {
            DataKind.SLEEP,
            DataKind.READINESS,
            DataKind.ACTIVITY,
            DataKind.VITALS,
            DataKind.WORKOUT,
            DataKind.PROFILE,
            DataKind.BODY_MEASUREMENT,
        }
    ),
    scopes=SCOPES,
    token_auth_method="client_secret_post",
    rate_limits=(RateLimit(5_000, 300),),
    developer_portal=DEVELOPER_PORTAL,
    rotating_refresh_tokens=True,
    kind_scopes=(
        (DataKind.SLEEP, ("daily",)),
        (DataKind.READINESS, ("daily",)),
        (DataKind.ACTIVITY, ("daily",)),
        (DataKind.VITALS, ("daily", "spo2Daily")),
        (DataKind.WORKOUT, ("workout",)),
        (DataKind.PROFILE, ("personal", "email")),
        (DataKind.BODY_MEASUREMENT, ("personal",)),
    ),
    setup_notes=(
        "Oura shows each scope as a box on its consent page: leave every box ticked, "
        "or the data behind an unticked one stays unavailable.",
    ),
    scope_labels=(
        ("email", "Email address"),
        ("personal", "Personal info"),
        ("daily", "Daily summaries"),
        ("heartrate", "Heart rate"),
        ("workout", "Workouts"),
        ("session", "Sessions"),
        ("spo2Daily", "Blood oxygen (SpO2)"),
    ),
    unmeasured=(
        (
            DataKind.SLEEP,
            (
                "no_data_duration_min",
                "sleep_cycle_count",
                "sleep_need_min",
                "sleep_performance_pct",
                "sleep_consistency_pct",
            ),
        ),
        (DataKind.ACTIVITY, ("active_zone_min",)),
        (DataKind.VITALS, ("skin_temp_celsius", "weight_kg", "resting_heart_rate_awake_only")),
        (
            DataKind.WORKOUT,
            (
                "strain",
                "avg_heart_rate_bpm",
                "max_heart_rate_bpm",
                "heart_rate_recorded_pct",
                "altitude_gain_m",
                "altitude_change_m",
                "steps",
                "active_zone_min",
                "heart_rate_zones",
            ),
        ),
        (DataKind.PROFILE, ("first_name", "last_name")),
        (DataKind.BODY_MEASUREMENT, ("max_heart_rate_bpm",)),
    ),
)
