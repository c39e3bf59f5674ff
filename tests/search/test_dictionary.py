"""jieba's dictionary is held compactly (search/dictionary.py) and segments exactly as jieba's
own: every Chinese text of the search and bot tests, the demo catalogue and the vocabulary is cut
the same way (default, search mode, with positions) as by a tokenizer holding the full dict. The
characters' readings (search/phonetic.py) are pypinyin's, from one string instead of its tables."""

from __future__ import annotations

import re
from pathlib import Path

import jieba

from search.dictionary import CompactFrequencies
from search.phonetic import FIRST, LAST, _syllables
from search.sentence import words
from search.text import CJK_RUN, synonyms

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["tests/search", "tests/bot", "catalogue/demo", "search"]


def chinese_texts() -> list[str]:
    texts: set[str] = set()
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*")):
            if path.suffix in {".py", ".txt", ".json", ".csv", ".yaml"}:
                text = path.read_text(encoding="utf-8", errors="ignore")
                texts.update(re.findall(r"[\u3400-\u9fff][\u3400-\u9fff，。、？！ ]*[\u3400-\u9fff]", text))
    return sorted(texts)


def full_tokenizer() -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for group in synonyms().groups:  # what search adds to its own (search.text)
        for term in group.normalized:
            if CJK_RUN.fullmatch(term):
                tokenizer.add_word(term, freq=2000)
    return tokenizer


def test_search_holds_the_compact_dictionary():
    synonyms()
    assert isinstance(jieba.dt.FREQ, CompactFrequencies)
    assert words("核磁共振") == [("核磁共振", 0, 4)]  # the vocabulary is in it


def test_segmentation_is_jiebas_own():
    synonyms()
    full = full_tokenizer()
    texts = chinese_texts()
    assert len(texts) > 900
    for text in texts:
        assert list(jieba.cut(text)) == list(full.cut(text)), text
        assert list(jieba.cut_for_search(text)) == list(full.cut_for_search(text)), text
        assert list(jieba.tokenize(text)) == list(full.tokenize(text)), text
    assert jieba.dt.total == full.total
    for probe in [
        "气象",
        "中华人民共和国",
        "中华人",
        "核磁共振",
        "扫苗",
        "龢",
        "㐀",
    ]:  # words, prefixes, neither
        assert jieba.dt.FREQ.get(probe) == full.FREQ.get(probe), probe
        assert (probe in jieba.dt.FREQ) == (probe in full.FREQ), probe


def test_readings_are_pypinyins():
    from pypinyin import Style, lazy_pinyin

    every = "".join(chr(code) for code in range(FIRST, LAST + 1))
    assert _syllables(every) == tuple(lazy_pinyin(every, style=Style.NORMAL))
    for text in chinese_texts():
        for run in CJK_RUN.findall(text):
            assert _syllables(run) == tuple(lazy_pinyin(run, style=Style.NORMAL)), run
