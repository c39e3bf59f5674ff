"""The desk console: server-rendered pages for provider staff, unit admins, the two bureaus and the
platform operator, over the same services (and guards) as the API. Nothing imports it."""
