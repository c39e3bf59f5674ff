"""Search that forgives Chinese typing: what a query meant when it was typed by sound.

A researcher types Chinese through a pinyin input method: the usual slip is the right sound and
the wrong character (扫苗电镜, 扫描点镜, 核瓷), or no characters at all (hecigongzhen, he ci gong
zhen, the initials hc). The instrument vocabulary (``synonyms.txt``) is what such a query means, so
a query is corrected against it *before* either backend sees it, and both answer the same:

- ``correct`` rewrites a normalised query: a run of Chinese characters that is no dictionary word
  but sounds like a vocabulary term (tones ignored, and the sounds southern speakers merge:
  zh/z, ch/c, sh/s, n/l, -ng/-n) becomes that term; pinyin typed with spaces is joined when the
  joined form is a term's pinyin; a model number glued to an abbreviation ("nmr600") is split
  where the letters are a vocabulary term ("nmr 600"). A word the dictionary knows (气象) is what
  the user meant and is left alone.
- ``latin_keys`` maps full pinyin (hecigongzhen) and initials (hc) of the Chinese vocabulary
  terms to their synonym groups: the database backend matches the groups' tokens, Meilisearch gets
  them as one-way synonyms. Initials stand only for the vocabulary, never for the free text of a
  document (names, units, cities), so "hz" is not every instrument in 杭州 and "hc" is 核磁, not
  whatever else has a word with those initials; initials come from instrument kinds only (not
  makers) and never shadow a real abbreviation ("ms" stays mass spectrometry).

Everything here is computed once from the vocabulary (a few hundred terms) or per distinct query
(remembered); nothing is added to the index, so neither backend pays in size or write time.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jieba

from search.dictionary import built_once
from search.text import CJK_RUN, synonyms

# The characters' own readings are enough to compare sounds (both sides are read the same way):
# pypinyin's first reading of each character, without its phrase table (~45 MB) and without its
# character table either (~12 MB): read once into one string (``readings``).
os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "1")

MIN_INITIALS = 2  # one letter names everything
LATIN_RUN = re.compile(r"[a-z]+|[0-9]+")
LATIN_WORD_RUN = re.compile(r"[a-z0-9]+(?:\s+[a-z0-9]+)*")
FIRST, LAST, WIDTH = 0x3400, 0x9FFF, 6  # the characters of CJK_RUN; "zhuang" is the longest reading
NOT_HAN = "-"


def _read_all() -> str:
    from pypinyin import Style, lazy_pinyin

    def reading(char: str) -> str:
        read = lazy_pinyin(char * 2, style=Style.NORMAL)
        if len(read) == 1:
            return NOT_HAN  # e.g. the Yijing hexagrams (U+4DC0…): pypinyin keeps a run whole
        return read[0] if read[0] != char else ""  # no reading: the character stands for itself

    return "".join(reading(chr(code)).ljust(WIDTH) for code in range(FIRST, LAST + 1))


@functools.cache
def readings() -> str:
    """Each character's reading in WIDTH columns, the character at FIRST first (~160 kB)."""
    spec = importlib.util.find_spec("pypinyin")  # the package's location, not importing it
    assert spec is not None and spec.submodule_search_locations
    source = Path(spec.submodule_search_locations[0]) / "pinyin_dict.py"
    return built_once("pinyin-1", source, _read_apart)


def _read_apart() -> str:
    """``_read_all`` in a child process: pypinyin's modules would stay in this one (~12 MB)."""
    code = "import sys; from search.phonetic import _read_all; sys.stdout.write(_read_all())"
    env = os.environ | {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return done.stdout


def _syllables(run: str) -> tuple[str, ...]:
    """The sounds of a run of CJK_RUN's characters, as pypinyin's ``lazy_pinyin`` reads it
    (tests/search/test_dictionary.py compares the two)."""
    table = readings()
    out: list[str] = []
    joining = False
    for char in run:
        at = (ord(char) - FIRST) * WIDTH
        read = table[at : at + WIDTH].rstrip() if FIRST <= ord(char) <= LAST else NOT_HAN
        if read == NOT_HAN and joining:
            out[-1] += char
        else:
            out.append(char if read in ("", NOT_HAN) else read)
        joining = read == NOT_HAN
    return tuple(out)


def _fuzzy(syllable: str) -> str:
    """The sound as a southern speaker may type it: zh/ch/sh as z/c/s, n as l, -ang/-eng/-ing
    as -an/-en/-in."""
    if syllable[:2] in ("zh", "ch", "sh"):
        syllable = syllable[0] + syllable[2:]
    if syllable[:1] == "n":
        syllable = "l" + syllable[1:]
    if syllable.endswith(("ang", "eng", "ing")):
        syllable = syllable[:-1]
    return syllable


@dataclass(frozen=True)
class Vocabulary:
    by_sound: dict[tuple[str, ...], str]  # fuzzy syllables -> the Chinese term they sound like
    longest: int  # characters in the longest Chinese term
    latin_keys: dict[str, tuple[int, ...]]  # full pinyin or initials -> synonym group numbers


@functools.cache
def vocabulary() -> Vocabulary:
    syn = synonyms()
    real_latin = {t for t in syn.by_term if not CJK_RUN.search(t)}
    by_sound: dict[tuple[str, ...], str] = {}
    keys: dict[str, list[int]] = {}
    for group in syn.groups:
        for term in group.normalized:
            if not CJK_RUN.fullmatch(term) or len(term) < 2:
                continue
            sounds = _syllables(term)
            by_sound.setdefault(tuple(_fuzzy(s) for s in sounds), term)
            derived = ["".join(sounds)]
            if group.kind == "instrument":
                derived.append("".join(s[0] for s in sounds))
            for key in derived:
                if len(key) >= MIN_INITIALS and key not in real_latin:
                    numbers = keys.setdefault(key, [])
                    if group.number not in numbers:
                        numbers.append(group.number)
    longest = max((len(t) for t in by_sound.values()), default=0)
    return Vocabulary(by_sound, longest, {k: tuple(v) for k, v in keys.items()})


def _known_word(text: str) -> bool:
    return bool(jieba.dt.FREQ.get(text))


def _correct_run(run: str, vocab: Vocabulary) -> str:
    """A run of Chinese characters with its sound-alike spans replaced, longest first. A span
    that is a vocabulary term or a dictionary word as typed is kept, and so are its parts; a
    longer span that only sounds like a term wins over the words inside it (扫苗电镜 is 扫描电镜,
    though 电镜 alone is a term)."""
    sounds = tuple(_fuzzy(s) for s in _syllables(run))
    if len(sounds) != len(run):  # a character pypinyin has no reading for: leave the run as typed
        return run
    out = list(run)
    taken = [False] * len(run)
    for size in range(min(vocab.longest, len(run)), 1, -1):
        for start in range(len(run) - size + 1):
            end = start + size
            if any(taken[start:end]):
                continue
            term = vocab.by_sound.get(sounds[start:end])
            window = run[start:end]
            if term is None and not _known_word(window):
                continue
            if term is not None and term != window and not _known_word(window):
                out[start:end] = [term] + [""] * (size - 1)
            for i in range(start, end):
                taken[i] = True
    return "".join(out)


def _join_pinyin(words: Sequence[str], vocab: Vocabulary) -> list[str]:
    """Consecutive words joined where together they are a term's pinyin ("he ci gong zhen")."""
    out: list[str] = []
    i = 0
    while i < len(words):
        for j in range(len(words), i + 1, -1):
            joined = "".join(words[i:j])
            if joined in vocab.latin_keys and all(w.isalpha() for w in words[i:j]):
                out.append(joined)
                i = j
                break
        else:
            out.append(words[i])
            i += 1
    return out


def _split_model(word: str, vocab: Vocabulary) -> str:
    """ "nmr600" → "nmr 600" when the letters are a vocabulary term and the whole is not. Not
    a longer mix ("xrf2be0c9" is a model number, whole in every index) nor one with a single
    letter (no index keeps such a word): split, it could never match."""
    syn = synonyms()
    runs = LATIN_RUN.findall(word)
    if len(runs) < 2 or "".join(runs) != word or word in syn.by_term or word in vocab.latin_keys:
        return word
    if len(runs) > 3 or any(len(r) == 1 and r.isalpha() for r in runs):
        return word
    if any(r in syn.by_term or r in vocab.latin_keys for r in runs if r.isalpha() and len(r) >= 2):
        return " ".join(runs)
    return word


@functools.lru_cache(maxsize=16384)
def correct(norm: str) -> str:
    """A normalised query as it was meant (see the module text); unchanged if nothing sounds off.
    Vocabulary terms typed as they are written stay as they are (synonym matching finds them)."""
    if not norm:
        return norm
    vocab = vocabulary()

    def cjk(match: re.Match[str]) -> str:
        return _correct_run(match.group(), vocab)

    def latin(match: re.Match[str]) -> str:
        joined = _join_pinyin(match.group().split(), vocab)
        return " ".join(_split_model(w, vocab) for w in joined)

    return LATIN_WORD_RUN.sub(latin, CJK_RUN.sub(cjk, norm))
