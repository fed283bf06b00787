"""REST API (``/api/v1``). Placeholder router until the endpoints land."""

from fastapi import APIRouter

router = APIRouter()
