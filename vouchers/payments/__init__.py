"""Paying the remainder in WeChat (the part of a bill vouchers do not cover).

    gateway    the merchant configuration and the APIv3 client, registered at start-up
    orders     a payment order for what a booking's firm owes: JSAPI (in WeChat) or Native (QR)
    apply      a transaction WeChat Pay reports paid becomes a payment, exactly once
    notify     the notification callback: verify, decrypt, apply, answer as the protocol says
    sync       orders not notified are queried; expired ones are closed
    refunds    money paid back through WeChat Pay (fee corrections, cancellations, double pay)
    reconcile  the day's trade bill compared line by line with the ledger

Every payment and refund posts a ledger entry on the unit's cash accounts (cash_clearing
against firm_payments), so the ledger check covers real money as it covers vouchers.
"""
