"""The bot's conversations: one module per intent, a router, and the shared framework in base."""
