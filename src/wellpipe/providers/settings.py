"""Provider settings read from ``WELLPIPE_<PROVIDER>_*`` environment variables.

pydantic-settings would do this, but importing it costs ``wellpipe serve``
about a tenth of its first answer (it loads argparse, dotenv and every source
it supports), for a handful of URL variables. `EnvSettings` follows its rule
for flat fields: a field not passed in is read from ``<env_prefix><NAME>``
(matched case-insensitively), else keeps its default; values are validated
like any other.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["EnvSettings"]


class EnvSettings(BaseModel):
    """A frozen model whose fields not given come from the environment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    env_prefix: ClassVar[str] = ""
    """Prepended to a field's name, upper-cased, to name its variable."""

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        environment = {name.upper(): value for name, value in os.environ.items()}
        values = dict(data)
        for field in cls.model_fields:
            variable = f"{cls.env_prefix}{field}".upper()
            if field not in values and variable in environment:
                values[field] = environment[variable]
        return values
