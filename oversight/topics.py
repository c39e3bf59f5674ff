"""The sensors' MQTT topics, apart from the client (``oversight.mqtt``): the API names a sensor's
topic without loading an MQTT client it never runs (the ingest role does)."""

from __future__ import annotations

TOPIC_PREFIX = "yixiang/sensors"
TOPIC_FILTER = f"{TOPIC_PREFIX}/+/power"


def topic_of(sensor_id: str) -> str:
    return f"{TOPIC_PREFIX}/{sensor_id}/power"


def sensor_of_topic(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) == 4 and f"{parts[0]}/{parts[1]}" == TOPIC_PREFIX and parts[3] == "power":
        return parts[2]
    return None


def subscription(share_group: str) -> str:
    return f"$share/{share_group}/{TOPIC_FILTER}" if share_group else TOPIC_FILTER
