"""Tables of the oversight domain: sensors and their bindings, readings, refusals, usage sessions
and each instrument's monitoring thresholds and live state.

Oversight reads the catalogue's and booking's tables and writes only these.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, UUIDPrimaryKey, utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")
SENSOR_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$"  # also a topic level: no '/', '+', '#'


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class SensorStatus(enum.StrEnum):
    active = "active"
    retired = "retired"  # removed (大仪报废时同步移除传感器) or taken out by its unit


class BindingAction(enum.StrEnum):
    bound = "bound"  # registered on an instrument
    rebound = "rebound"  # moved to another instrument
    retired = "retired"


class PowerState(enum.StrEnum):
    on = "on"
    standby = "standby"
    off = "off"


class SessionSource(enum.StrEnum):
    sensor = "sensor"
    manual = "manual"  # recorded by provider staff where no sensor reports


class Annotation(enum.StrEnum):
    maintenance = "maintenance"  # 维护保养
    calibration = "calibration"  # 校准
    internal_research = "internal_research"  # 本单位科研
    other = "other"


class Sensor(Base):
    """An IoT power sensor (物联网传感器) on one instrument. ``id`` is what the sensor sends and the
    level of its MQTT topic; ``secret_sealed`` is its HMAC key, encrypted with the installation's
    secret key (``oversight.secrets``): the key must be read back to verify a signature."""

    __tablename__ = "oversight_sensors"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    instrument_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("instruments.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    status: Mapped[SensorStatus] = mapped_column(_enum(SensorStatus), default=SensorStatus.active)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary(128))
    firmware: Mapped[str] = mapped_column(String(64), default="")
    signal_dbm: Mapped[int | None]  # the last message's received signal strength, as it reported it
    last_seen_at: Mapped[datetime | None]
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class SensorBinding(Base):
    """The history of a sensor's instrument: bound, rebound, retired — who, when, why."""

    __tablename__ = "oversight_sensor_bindings"
    # an instrument's first sensor (oversight.indicators: installed within 30 working days?)
    __table_args__ = (Index("ix_oversight_sensor_bindings_instrument_at", "instrument_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sensor_id: Mapped[str] = mapped_column(ForeignKey("oversight_sensors.id"), index=True)
    action: Mapped[BindingAction] = mapped_column(_enum(BindingAction))
    instrument_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("instruments.id"))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))  # None: the system
    reason: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SensorReading(Base):
    """One accepted message. ``(sensor_id, seq)`` is unique: a message seen again is never stored
    twice. ``instrument_id`` is the instrument the sensor was bound to when it arrived."""

    __tablename__ = "oversight_readings"
    __table_args__ = (Index("ix_oversight_readings_instrument_read_at", "instrument_id", "read_at"),)

    sensor_id: Mapped[str] = mapped_column(ForeignKey("oversight_sensors.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    instrument_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("instruments.id"))
    read_at: Mapped[datetime]
    state: Mapped[PowerState] = mapped_column(_enum(PowerState))
    watts: Mapped[int]  # whole watts, as the sensor reports them
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefusedMessages(Base):
    """How many messages were refused, per Shanghai day and reason (never stored as usage)."""

    __tablename__ = "oversight_refused_messages"

    day: Mapped[date] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageSession(UUIDPrimaryKey, Base):
    """A span the instrument ran. Sensor sessions are derived from the readings (replaced whenever
    readings in their neighbourhood arrive, so late and out-of-order messages give the same ones);
    ``counted`` is False for runs shorter than the instrument's minimum session (kept so that a
    late reading joining them is seen). Manual sessions are recorded by provider staff."""

    __tablename__ = "oversight_usage_sessions"
    __table_args__ = (Index("ix_oversight_usage_sessions_instrument_start", "instrument_id", "start_at"),)

    instrument_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("instruments.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    # joules (watt-seconds), summed per interval between readings: the same however they are batched
    energy_j: Mapped[int] = mapped_column(BigInteger, default=0)
    source: Mapped[SessionSource] = mapped_column(_enum(SessionSource))
    counted: Mapped[bool] = mapped_column(default=True)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))  # manual: who
    reason: Mapped[str] = mapped_column(String(200), default="")  # manual: why
    annotation: Mapped[Annotation | None] = mapped_column(_enum(Annotation))
    annotation_note: Mapped[str] = mapped_column(String(200), default="")
    annotated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstrumentMonitor(Base):
    """An instrument's monitoring thresholds and its live state (from its newest reading).

    A row exists once the instrument has a sensor or its thresholds were set; its lock serialises
    the recomputation of the instrument's sessions between ingest processes."""

    __tablename__ = "oversight_instrument_monitors"

    instrument_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("instruments.id"), primary_key=True)
    running_watts: Mapped[int] = mapped_column(default=50)  # at or above, with state "on": running
    min_session_minutes: Mapped[int] = mapped_column(default=5)
    offline_after_minutes: Mapped[int] = mapped_column(default=15)
    last_reading_at: Mapped[datetime | None]
    last_state: Mapped[str | None] = mapped_column(String(16))  # running | standby | off
    last_watts: Mapped[int | None]
    state_since: Mapped[datetime | None]
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class IdleLevel(enum.IntEnum):
    """Seed 004's steps for an instrument not run (连续...未开机运行), in months."""

    none = 0
    reminder = 1  # 由管理单位提醒或说明: the unit is reminded and may explain
    transfer = 3  # 可由管理单位将大仪进行内部资产划转: listed for internal transfer
    criticism = 6  # 对大仪管理单位进行通报批评: the unit listed for public criticism


class IdleSource(enum.StrEnum):
    sessions = "sessions"  # sensor and manual sessions
    bookings = "bookings"  # no sensor: completed bookings are the only record of use


class ExplanationReason(enum.StrEnum):
    """正当理由 the bureau may accept."""

    maintenance = "maintenance"  # 维修保养
    awaiting_repair = "awaiting_repair"  # 待修
    project_schedule = "project_schedule"  # 项目安排
    customs_restriction = "customs_restriction"  # 海关监管限制
    other = "other"


class ExplanationDecision(enum.StrEnum):
    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"


class IdleCase(UUIDPrimaryKey, Base):
    """One stretch of an instrument not running, from ``idle_since`` (its last use, or its listing
    when never used) until a new use clears it. Each step reached is stamped once; the stamps are
    the record that each notice went out once."""

    __tablename__ = "oversight_idle_cases"
    __table_args__ = (Index("ix_oversight_idle_cases_instrument_open", "instrument_id", "cleared_at"),)

    instrument_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("instruments.id"))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    idle_since: Mapped[datetime]
    source: Mapped[IdleSource] = mapped_column(_enum(IdleSource))
    level: Mapped[int] = mapped_column(default=0)  # an IdleLevel: the highest step reached
    reminded_at: Mapped[datetime | None]
    transfer_listed_at: Mapped[datetime | None]
    criticism_listed_at: Mapped[datetime | None]
    excused: Mapped[bool] = mapped_column(default=False)  # an explanation was accepted: no further steps
    cleared_at: Mapped[datetime | None]  # a new use ended it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdleExplanation(UUIDPrimaryKey, Base):
    """The unit's explanation (说明) of an idle instrument, and the bureau's decision."""

    __tablename__ = "oversight_idle_explanations"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oversight_idle_cases.id"), index=True)
    reason: Mapped[ExplanationReason] = mapped_column(_enum(ExplanationReason))
    text: Mapped[str] = mapped_column(String(1000))
    filed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decision: Mapped[ExplanationDecision] = mapped_column(
        _enum(ExplanationDecision), default=ExplanationDecision.pending
    )
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(String(500), default="")


class UsageDay(Base):
    """The daily roll-up (issue 21): an instrument's counted session time on one Asia/Shanghai day,
    per session source — effective, of it inside bookings at the external rate (for other units
    and firms), the rest internal. Derived from the sessions and bookings (``oversight.rollup``),
    recomputed for the days a change touches; never edited by hand."""

    __tablename__ = "oversight_usage_daily"
    __table_args__ = (Index("ix_oversight_usage_daily_day", "day"),)

    instrument_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("instruments.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    source: Mapped[SessionSource] = mapped_column(_enum(SessionSource), primary_key=True)
    effective_seconds: Mapped[int] = mapped_column(default=0)
    external_seconds: Mapped[int] = mapped_column(default=0)
    internal_seconds: Mapped[int] = mapped_column(default=0)
    booked_seconds: Mapped[int] = mapped_column(default=0)  # inside any confirmed booking
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StaleUsageDay(Base):
    """A day of an instrument whose roll-up a change made stale (a session written, a booking
    confirmed or cancelled): the roll-up job recomputes it and removes the mark."""

    __tablename__ = "oversight_usage_stale_days"

    instrument_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("instruments.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    marked_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArchiveStatus(enum.StrEnum):
    exporting = "exporting"  # a run holds the month: its object is being written, nothing deleted
    deleting = "deleting"  # the object is complete and recorded: its rows are being deleted
    archived = "archived"  # every row the object holds is out of the readings table
    restored = "restored"  # the object's rows were put back (the object stays)


class ReadingArchive(Base):
    """A month (Asia/Shanghai) of sensor readings moved to the object storage (``oversight.archive``).

    ``row_count``, ``sha256`` and ``bytes`` describe the object and are set only once it is
    complete; rows are deleted only for a month recorded so, and only those the object holds.
    ``claimed_until``: the run working on the month (archive or restore) holds it until then."""

    __tablename__ = "oversight_reading_archives"

    month: Mapped[date] = mapped_column(primary_key=True)  # the month's first day
    status: Mapped[ArchiveStatus] = mapped_column(_enum(ArchiveStatus))
    object_key: Mapped[str] = mapped_column(String(200))
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    rows_deleted: Mapped[int] = mapped_column(BigInteger, default=0)
    claimed_until: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]  # the object complete and recorded
    deleted_at: Mapped[datetime | None]  # its rows all deleted
    restored_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
