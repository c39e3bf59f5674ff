"""Personal data (PIPL): a user's export of everything the platform holds about them, erasure on
request (financial records kept, pseudonymised, and said why), consent to notifications."""
