"""The bureaus' domain (一网办): sensors and usage sessions, live status, idle escalation."""
