"""ratings: the stars each reviewer gave (Istio's ratings.js, in-memory v1 plus its failure modes).

Routes: `GET /ratings/<id>` -> `{"id": id, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}` (or what
was POSTed for that id); `POST /ratings/<id>` with a JSON object body stores it as that book's
ratings and answers like GET; a non-numeric id or a non-JSON body -> 400 `{"error": ...}`;
`GET /health` -> 200 (500 once `v-unhealthy` has turned unhealthy).

Failure modes, chosen by the environment variable SERVICE_VERSION as in the original image builds
(they exist to exercise retries, timeouts and outlier detection):
  v-faulty       half of the GETs answer 503 `{"error": "Service unavailable"}`
  v-delayed      half of the GETs answer after RATINGS_DELAY_SECONDS (default 7)
  v-unavailable  every GET answers 503 (the original flips every 60 s; always is easier to test)
  v-unhealthy    healthy for RATINGS_UNHEALTHY_AFTER_SECONDS (default 900, the original's 15 min),
                 then every GET answers 503 and /health 500 (the original flips back after another
                 15 min; a demo never runs that long)
Any other value (or none) is the normal v1 behaviour.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from meshcore.bookinfo.env_settings import env_seconds
from meshcore.model.errors import error_body

DEFAULT_RATINGS: dict[str, int] = {"Reviewer1": 5, "Reviewer2": 4}
FAILURE_MODES = ("v-faulty", "v-delayed", "v-unavailable", "v-unhealthy")


@dataclass(frozen=True)
class RatingsSettings:
    mode: str = ""
    delay_seconds: float = 7.0
    unhealthy_after_seconds: float = 900.0

    @classmethod
    def from_env(cls, env: Mapping[str, str], version: str = "v1") -> RatingsSettings:
        """Read SERVICE_VERSION (falling back to `version`, so `--version v-faulty` also works),
        RATINGS_DELAY_SECONDS and RATINGS_UNHEALTHY_AFTER_SECONDS; ValueError names a bad one."""
        mode = env.get("SERVICE_VERSION") or version
        return cls(
            mode=mode if mode in FAILURE_MODES else "",
            delay_seconds=env_seconds(env, "RATINGS_DELAY_SECONDS", 7.0, allow_zero=True),
            unhealthy_after_seconds=env_seconds(
                env, "RATINGS_UNHEALTHY_AFTER_SECONDS", 900.0, allow_zero=True
            ),
        )


@dataclass
class Outcome:
    """What a GET should do: answer with `status` after waiting `delay` seconds."""

    status: int
    delay: float = 0.0


@dataclass
class RatingsBehaviour:
    """Decides, per request, how the configured failure mode behaves. Not thread-safe (one loop)."""

    settings: RatingsSettings
    chance: Callable[[], float] = random.random
    clock: Callable[[], float] = time.monotonic
    started_at: float = field(init=False)

    def __post_init__(self) -> None:
        self.started_at = self.clock()

    def unhealthy(self) -> bool:
        return (
            self.settings.mode == "v-unhealthy"
            and self.clock() - self.started_at >= self.settings.unhealthy_after_seconds
        )

    def next_get(self) -> Outcome:
        mode = self.settings.mode
        if mode == "v-faulty":
            # ratings.js: `random <= 0.5` fails.
            return Outcome(503) if self.chance() <= 0.5 else Outcome(200)
        if mode == "v-delayed":
            return Outcome(200, self.settings.delay_seconds) if self.chance() <= 0.5 else Outcome(200)
        if mode == "v-unavailable" or self.unhealthy():
            return Outcome(503)
        return Outcome(200)


class RatingsStore:
    """Ratings POSTed per product id, in memory (ratings v1 has no database). One loop only."""

    def __init__(self) -> None:
        self._added: dict[int, dict[str, Any]] = {}

    def get(self, product_id: int) -> dict[str, Any]:
        return {"id": product_id, "ratings": dict(self._added.get(product_id, DEFAULT_RATINGS))}

    def put(self, product_id: int, ratings: dict[str, Any]) -> dict[str, Any]:
        self._added[product_id] = dict(ratings)
        return self.get(product_id)


BEHAVIOUR = web.AppKey("ratings_behaviour", RatingsBehaviour)
STORE = web.AppKey("ratings_store", RatingsStore)

UNAVAILABLE_BODY = error_body("Service unavailable")


def _product_id(request: web.Request) -> int | None:
    try:
        return int(request.match_info["product_id"])
    except ValueError:
        return None


async def health(request: web.Request) -> web.Response:
    if request.app[BEHAVIOUR].unhealthy():
        return web.json_response({"status": "Ratings is not healthy"}, status=500)
    return web.json_response({"status": "Ratings is healthy"})


async def get_ratings(request: web.Request) -> web.Response:
    product_id = _product_id(request)
    if product_id is None:
        return web.json_response(error_body("please provide numeric product ID"), status=400)
    outcome = request.app[BEHAVIOUR].next_get()
    if outcome.delay:
        await asyncio.sleep(outcome.delay)
    if outcome.status != 200:
        return web.json_response(UNAVAILABLE_BODY, status=outcome.status)
    return web.json_response(request.app[STORE].get(product_id))


async def post_ratings(request: web.Request) -> web.Response:
    product_id = _product_id(request)
    if product_id is None:
        return web.json_response(error_body("please provide numeric product ID"), status=400)
    try:
        ratings = await request.json()
    except ValueError:
        ratings = None
    if not isinstance(ratings, dict):
        return web.json_response(error_body("please provide valid ratings JSON"), status=400)
    return web.json_response(request.app[STORE].put(product_id, ratings))


def create_app(version: str = "v1", settings: RatingsSettings | None = None) -> web.Application:
    """The ratings application; `settings` default to RatingsSettings.from_env(os.environ, version)."""
    if settings is None:
        settings = RatingsSettings.from_env(os.environ, version)
    app = web.Application()
    app[BEHAVIOUR] = RatingsBehaviour(settings)
    app[STORE] = RatingsStore()
    app.router.add_get("/health", health)
    app.router.add_get("/ratings/{product_id}", get_ratings)
    app.router.add_post("/ratings/{product_id}", post_ratings)
    return app
