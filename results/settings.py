"""Results' settings: where result files are kept, how large, how long, and S3."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from yixiang.settings import Section, Settings, env_name


class ResultsSettings(Section):
    env_prefix = "RESULTS_"

    storage: Literal["local", "s3"] = "local"
    max_file_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 200 * 1024 * 1024
    link_ttl_seconds: Annotated[int, msgspec.Meta(ge=10, le=86400)] = 300
    retention_days: Annotated[int, msgspec.Meta(ge=1)] = 5 * 365
    # Local storage in production: the operator states that the data dir is one volume every
    # API and worker process mounts (NFS, a ReadWriteMany claim), not each pod's own disk.
    shared_volume: bool = False

    def problems(self, settings: Settings) -> list[str]:
        s3 = S3Settings.of(settings)
        if self.storage == "s3" and not (s3.bucket and s3.access_key and s3.secret_key):
            return [
                f"{env_name('s3_bucket')}, {env_name('s3_access_key')} and {env_name('s3_secret_key')} "
                "are required when results are stored in S3"
            ]
        if self.storage == "local" and not settings.is_embedded and not self.shared_volume:
            # A file uploaded through one replica must be downloadable through every other, and
            # outlive the pod: a pod's own disk (emptyDir) gives neither.
            return [
                f"{env_name('results_storage')}=local keeps result files in {env_name('data_dir')}, "
                f"which production replicas do not share: use {env_name('results_storage')}=s3, or set "
                f"{env_name('results_shared_volume')}=true if the data dir is one volume they all mount"
            ]
        return []

    def describe(self) -> dict[str, str]:
        if self.storage == "local" and self.shared_volume:
            return {"result files": "local (shared volume)"}
        return {"result files": self.storage}


class S3Settings(Section):
    env_prefix = "S3_"

    endpoint_url: str = ""
    bucket: str = ""
    access_key: str = ""
    secret_key: str = ""
    region: str = "cn-north-1"


SECTIONS = (ResultsSettings, S3Settings)
