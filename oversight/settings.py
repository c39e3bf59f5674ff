"""Oversight's settings: the MQTT broker the sensors report through, and how readings are taken."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

import msgspec

from yixiang.settings import Section, Settings, env_name


class OversightSettings(Section):
    env_prefix = "OVERSIGHT_"

    # mqtt://[user:password@]host[:port] (mqtts:// for TLS); the broker the sensors publish to
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    # Ingest processes subscribe as one shared-subscription group ($share/<group>/...): the broker
    # hands each message to one of them. Empty: a plain subscription (every process gets all).
    mqtt_share_group: Annotated[str, msgspec.Meta(max_length=64, pattern="^[A-Za-z0-9_-]*$")] = (
        "yixiang-ingest"
    )
    # The ingest process's MQTT client id. Its broker session holds the readings it has not yet
    # acknowledged (it acknowledges once they are committed), so the id must be the same after a
    # restart and differ between ingest processes. Empty: yixiang-ingest-<host name>.
    mqtt_client_id: Annotated[str, msgspec.Meta(max_length=64, pattern="^[A-Za-z0-9_-]*$")] = ""
    # How long the broker keeps a disconnected ingest process's session (and its unacknowledged
    # readings, sent again when it reconnects); while it is away, its share group's messages
    # routed to it wait there too
    mqtt_session_expiry_seconds: Annotated[int, msgspec.Meta(ge=10, le=86_400)] = 300
    # A reading timed later than now plus this is refused (far_future): a sensor clock's skew
    future_skew_seconds: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 300
    # The ingest role stores messages in batches of at most this many, or after this long
    ingest_batch_size: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 500
    ingest_batch_seconds: Annotated[float, msgspec.Meta(gt=0, le=10)] = 0.2
    # The ingest role touches this file as its loop goes round (empty: <data_dir>/ingest.heartbeat);
    # `yixiang oversight ingest --check-heartbeat` fails once it has not been touched for
    # ingest_heartbeat_stale_seconds (a liveness probe)
    ingest_heartbeat_file: str = ""
    ingest_heartbeat_stale_seconds: Annotated[int, msgspec.Meta(ge=5, le=3_600)] = 60
    # Search's live status (each hit's, the 现在空闲 filter, the facet) is at most this old: an API
    # process reads every monitored instrument's status once per period, not at every search.
    # 0: at every search. An instrument's own page is read at each request.
    live_status_search_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = 1.0
    # The annual norm of machine hours an instrument's usage rate is measured against (使用率:
    # effective hours / norm; oversight/INDICATORS.md)
    annual_norm_hours: Annotated[int, msgspec.Meta(ge=1, le=8_784)] = 1_760
    # 购置查重评议: a proposed purchase at or above this price (fen) gets a review report at once
    # (seed 004 §(二): 新购50万元及以上大仪); below it the filing is recorded as not requiring one
    review_threshold_fen: Annotated[int, msgspec.Meta(ge=0, le=10**13)] = 50_000_000
    # Raw readings of a month (Asia/Shanghai) that ended more than this many months ago are moved
    # to the object storage by the archive job (``oversight.archive``); the sessions and the
    # daily roll-up keep their figures
    readings_kept_months: Annotated[int, msgspec.Meta(ge=1, le=1_200)] = 13

    def problems(self, settings: Settings) -> list[str]:
        parts = urlsplit(self.mqtt_url)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            return [f"{env_name('oversight_mqtt_url')} must look like mqtt://host:1883 (or mqtts://)"]
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            return [f"{env_name('oversight_mqtt_url')} has a port that is not a number"]
        return []

    def describe(self) -> dict[str, str]:
        parts = urlsplit(self.mqtt_url)
        return {"sensor broker": f"{parts.scheme}://{parts.hostname}:{parts.port or 1883}"}


from oversight.evaluation_settings import ComplaintSettings, EvaluationSettings  # noqa: E402

SECTIONS = (OversightSettings, EvaluationSettings, ComplaintSettings)
