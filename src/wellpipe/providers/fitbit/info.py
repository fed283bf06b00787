"""Google Health's facts as data (Wellpipe's "fitbit" provider)."""

from __future__ import annotations

from typing import Final

from wellpipe.core.models import DataKind
from wellpipe.core.provider_info import ProviderInfo, RateLimit
from wellpipe.providers.fitbit.settings import DEVELOPER_CONSOLE, SCOPE_PREFIX

__all__ = [
    "ACTIVITY_SCOPE",
    "HEALTH_METRICS_SCOPE",
    "INFO",
    "PER_USER_LIMIT",
    "PROFILE_SCOPE",
    "SCOPES",
    "SETTINGS_SCOPE",
    "SLEEP_SCOPE",
]

SLEEP_SCOPE: Final = f"{SCOPE_PREFIX}sleep.readonly"
"""The ``sleep`` sessions only (nightly HRV, SpO2 and breathing are health metrics)."""
HEALTH_METRICS_SCOPE: Final = f"{SCOPE_PREFIX}health_metrics_and_measurements.readonly"
"""Heart rate, resting heart rate, HRV, SpO2, breathing rate, skin temperature, weight, height."""
ACTIVITY_SCOPE: Final = f"{SCOPE_PREFIX}activity_and_fitness.readonly"
"""Steps, distance, calories, active zone minutes, exercise, VO2 max."""
PROFILE_SCOPE: Final = f"{SCOPE_PREFIX}profile.readonly"
"""Age and stride lengths."""
SETTINGS_SCOPE: Final = f"{SCOPE_PREFIX}settings.readonly"
"""Time zone and unit preferences."""

SCOPES: Final = (SLEEP_SCOPE, HEALTH_METRICS_SCOPE, ACTIVITY_SCOPE, PROFILE_SCOPE, SETTINGS_SCOPE)
"""What Wellpipe requests. Google has no ``offline`` scope: ``access_type=offline`` asks for
the refresh token instead."""

_GOOGLE_TESTING = (
    "Google gives OAuth clients whose publishing status is 'Testing' refresh tokens that "
    "expire after 7 days: in the Google Cloud console, open 'Google Auth Platform' > "
    "'Audience' and press 'Publish app' ('In production'; the client may stay unverified "
    "for your own use), then connect again."
)

PER_USER_LIMIT: Final = RateLimit(300, 60)
"""Google's limit for one user of one project: 300 requests a minute.

`ProviderInfo.rate_limits` is the budget of the whole developer app (the
Google Cloud project), shared by every account a process serves; the per-user
limit is enforced by each open provider on top of it (see `open_fitbit`).
"""

INFO = ProviderInfo(
    name="fitbit",
    display_name="Fitbit (Google Health)",
    kinds=frozenset(
        {
            DataKind.SLEEP,
            DataKind.ACTIVITY,
            DataKind.VITALS,
            DataKind.WORKOUT,
            DataKind.PROFILE,
            DataKind.BODY_MEASUREMENT,
        }
    ),
    scopes=SCOPES,
    token_auth_method="client_secret_post",
    # Per Google Cloud project: 120,000 a minute and 86.4 million a day.
    rate_limits=(RateLimit(120_000, 60), RateLimit(86_400_000, 86_400)),
    developer_portal=DEVELOPER_CONSOLE,
    pkce=True,
    authorize_params=(
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("include_granted_scopes", "true"),
    ),
    rotating_refresh_tokens=False,
    kind_scopes=(
        (DataKind.SLEEP, (SLEEP_SCOPE,)),
        (DataKind.ACTIVITY, (ACTIVITY_SCOPE,)),
        (DataKind.WORKOUT, (ACTIVITY_SCOPE,)),
        # Nightly vitals are health metrics; VO2 max alone is an activity type.
        (DataKind.VITALS, (HEALTH_METRICS_SCOPE,)),
        (DataKind.PROFILE, (PROFILE_SCOPE,)),
        (DataKind.BODY_MEASUREMENT, (HEALTH_METRICS_SCOPE,)),
    ),
    setup_notes=(
        "Create your own OAuth client in a Google Cloud project: enable the Google Health "
        "API, choose 'Web application' (or 'Desktop app'), add the redirect URI below, and "
        "add the googlehealth.*.readonly scopes below on the 'Data Access' page.",
        _GOOGLE_TESTING,
    ),
    connect_notes=(_GOOGLE_TESTING,),
    refresh_token_days=7,
    refresh_token_hint="publish your Google OAuth client 'In production' "
    "(Google Auth Platform > Audience), then run `wellpipe auth fitbit` again",
    scope_labels=(
        (SLEEP_SCOPE, "Sleep"),
        (HEALTH_METRICS_SCOPE, "Health metrics"),
        (ACTIVITY_SCOPE, "Activity and fitness"),
        (PROFILE_SCOPE, "Profile"),
        (SETTINGS_SCOPE, "Settings"),
    ),
    unmeasured=(
        (
            DataKind.SLEEP,
            (
                "no_data_duration_min",
                "sleep_cycle_count",
                "disturbance_count",
                "sleep_need_min",
                "sleep_performance_pct",
                "sleep_score_pct",
                "sleep_consistency_pct",
                "sleep_efficiency_pct",
                "respiratory_rate_per_min",
                "avg_heart_rate_bpm",
                "lowest_heart_rate_bpm",
                "avg_hrv_rmssd_ms",
            ),
        ),
        (
            DataKind.ACTIVITY,
            (
                "high_activity_min",
                "medium_activity_min",
                "low_activity_min",
                "sedentary_min",
                "activity_score_pct",
            ),
        ),
        (
            DataKind.VITALS,
            ("breathing_disturbance_index", "stress_high_min", "recovery_high_min"),
        ),
        (
            DataKind.WORKOUT,
            (
                "strain",
                "max_heart_rate_bpm",
                "heart_rate_recorded_pct",
                "altitude_change_m",
                "intensity",
                "heart_rate_zones",
            ),
        ),
        (DataKind.PROFILE, ("email", "first_name", "last_name", "biological_sex")),
        (DataKind.BODY_MEASUREMENT, ("max_heart_rate_bpm",)),
    ),
)
