"""Row locks: the one place that knows how the app locks rows, and in which order.

Every path that decides on a scarce thing (a slot on a calendar, a voucher balance, a refresh
token, a settlement batch) locks the rows it decides on through this module, inside its
transaction (:func:`yixiang.db.transaction`), before it reads what it decides on.

How a lock is taken:

* PostgreSQL: ``SELECT ... FOR NO KEY UPDATE``. It excludes every other locker and writer of the
  row, as ``FOR UPDATE`` would, but not the ``KEY SHARE`` lock a foreign-key check takes on the
  row it refers to: with ``FOR UPDATE`` on a firm's row, the insert of any row naming that firm
  (a booking, a checkout) queued behind the lock holder — a lock taken by one statement and
  waited on by another that had no reason to wait. Keys never change, so nothing needs more.
  Rows of one kind are locked by one statement ordered by their key (a firm's grants, a
  programme's grants, result files to purge), so two such statements take them in one order.
* SQLite: nothing to add. Every write transaction begins with ``BEGIN IMMEDIATE``
  (:mod:`yixiang.db`), which holds the database's one write lock from its first statement to its
  commit, so writers run one after another. SQLAlchemy's SQLite compiler renders no ``FOR ...``
  clause, so the same statement serves both databases.
* Timeout: a lock not granted within ``LOCK_TIMEOUT_SECONDS`` fails the statement instead of
  waiting on (PostgreSQL ``lock_timeout``; SQLite's ``busy_timeout`` is the same figure), set
  per connection in :mod:`yixiang.db`, so it costs no round trip.

The lock order. A transaction that locks rows of several kinds locks them in this order; it may
skip kinds, never go back up (two transactions then never wait on each other in a cycle):

1. instrument — its calendar's slots: a new machine-time booking locks it with the instrument
   read (``booking/bookable.py``), the catalogue's edits lock it too;
   Its waiting-list entries (``booking/waitlist.py``) are locked only by a transaction that
   holds the instrument already: offers, accepts and declines of one calendar queue on it;
2. organisation — a firm, while its open requests on an instrument are counted;
3. booking — every transition of an existing booking (``booking/access.visible_booking``),
   its results and its rating;
4. rating;
5. settlement batch;
6. voucher programme — budget changes, grant issue, adjustment and expiry;
7. voucher grants with their ledger accounts, the firm's (or the programme's) in grant id order;
8. voucher checkout — the booking's hold, capture, release, refund or payment;
   then the booking's WeChat Pay orders (``vouchers/payments/``: payment, refund);
9. ledger balances: ``post_entry`` updates the cached balances in account-code order.

Alone (never held with another kind): refresh tokens (sign-in), result files being purged, and
the outbox and expiry batches claimed with ``SKIP LOCKED`` (:func:`claim`), whose rows a second
worker passes over instead of waiting for.

Why an instrument lock for each new machine-time booking: the exclusion constraint
``ex_bookings_no_overlap`` checks an insert by scanning for overlapping rows *after* inserting
its own index entry. Two transactions inserting overlapping bookings at the same moment each
find the other's uncommitted row, each waits for the other, and PostgreSQL aborts one with
"deadlock detected" (PostgreSQL's ``execIndexing.c`` says so; 16 connections inserting one
overlapping slot 300 times gave 135 deadlocks beside 4,365 clean refusals). Booking creation
used to retry those. Now racing bookings for one instrument queue on its row before the overlap
check, so the check sees the winner's committed booking and refuses cleanly; the constraint
stays as the database's own guarantee against writers that skip the check.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

LOCK_TIMEOUT_SECONDS = 30

_Model = TypeVar("_Model")
_Statement = TypeVar("_Statement", bound=Select[*tuple[Any, ...]])

# FOR NO KEY UPDATE (see the module's doc); ``session.get`` takes the same arguments as a dict.
_NO_KEY_UPDATE: dict[str, Any] = {"key_share": True}


def locked(statement: _Statement, *of: Any) -> _Statement:
    """``statement`` locking the rows it reads (of the tables or models ``of``, else all). Give it
    an ORDER BY on the key when it reads several rows."""
    return statement.with_for_update(key_share=True, of=list(of) or None)


def claim(statement: _Statement) -> _Statement:
    """``statement`` locking the rows it reads and passing over rows another transaction holds:
    for batches that several workers take from at once (outbox, expiry)."""
    return statement.with_for_update(key_share=True, skip_locked=True)


async def lock_row(session: AsyncSession, model: type[_Model], key: Any) -> _Model | None:
    """The row of ``model`` with primary key ``key``, locked and read afresh (None if there is none)."""
    return await session.get(model, key, with_for_update=_NO_KEY_UPDATE, populate_existing=True)
