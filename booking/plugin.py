"""The booking domain as the shell sees it: calendars, qualifications, bookings and their jobs."""

from __future__ import annotations

from booking.controllers import (
    AvailabilityController,
    BookingController,
    ProviderCalendarController,
    QualificationController,
    QuoteController,
)
from booking.credit_api import StandingController
from booking.demo import load_booking_demo
from booking.events import EXPIRY_DUE, REMINDERS_DUE
from booking.feeds_api import CalendarFeedController, CalendarFileController
from booking.jobs import (
    expire_requests,
    offer_waiting_lists,
    send_reminders,
    settle_amount_due,
    show_corrected_fee,
)
from booking.series_api import BookingSeriesController
from booking.training_api import TrainingController
from booking.waitlist import WAITLIST_DUE
from booking.waitlist_api import WaitlistController
from vouchers.payments.corrections import FEE_CORRECTED
from vouchers.statements import PAYMENT_RECEIVED
from yixiang.domains import Domain, PeriodicJob

DOMAIN = Domain(
    name="booking",
    route_handlers=[
        BookingController,
        AvailabilityController,
        ProviderCalendarController,
        QualificationController,
        QuoteController,
        WaitlistController,
        CalendarFeedController,
        CalendarFileController,
        BookingSeriesController,
        StandingController,
        TrainingController,
    ],
    consumers={
        EXPIRY_DUE: [expire_requests],
        REMINDERS_DUE: [send_reminders],
        PAYMENT_RECEIVED: [settle_amount_due],
        FEE_CORRECTED: [show_corrected_fee],
        WAITLIST_DUE: [offer_waiting_lists],
    },
    periodic_jobs=[
        PeriodicJob(name="booking-expire-requests", every_seconds=60, topic=EXPIRY_DUE),
        PeriodicJob(name="booking-reminders", every_seconds=300, topic=REMINDERS_DUE),
        PeriodicJob(name="booking-waitlist", every_seconds=60, topic=WAITLIST_DUE),
    ],
    demo_loaders=[load_booking_demo],
)
