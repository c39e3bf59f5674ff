"""Understanding a researcher's message, in layers each testable alone:

normalise (width, script, case, punctuation, emoji) → segment (jieba with the search vocabulary)
→ slots (instrument, brand, date and time, duration, samples, price and place words, found
anywhere in the sentence) → intent (with a confidence). ``understand`` runs them all; the
conversation router acts on the :class:`~bot.understanding.intent.Reading` it returns. The
utterances it must understand are a table in ``tests/bot/data/utterances.csv``.
"""

from bot.understanding.intent import Reading, understand

__all__ = ["Reading", "understand"]
