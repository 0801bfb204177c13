"""Text for speech: split replies into sentences and clauses, and make them speakable.

Pure functions, no engine imports. TTS engines call :func:`split_clauses` on the agent's
text, then :func:`normalize_for_speech` on each clause before synthesis, and report the
original clause (what the agent wrote) with the audio so barge-in can tell the agent what
the caller heard in its own words.

Clause splitting exists for latency: Piper synthesizes a whole sentence before it returns
any audio, so a long sentence is cut at commas, semicolons and colons and, when still long,
before "and" / "but" / "or" / "so"; pieces shorter than ``min_words`` are merged back so
prosody does not break into fragments.
"""

from __future__ import annotations

import re

__all__ = [
    "normalize_for_speech",
    "number_words",
    "ordinal_words",
    "split_clauses",
    "split_sentences",
]

# --- sentence and clause splitting -------------------------------------------------------

# Tokens that end with a period but do not end a sentence (compared lower-case, no dot).
_NO_BREAK_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "no",
     "approx", "dept", "inc", "ltd", "co", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
     "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun"}
)
# These end a sentence when the next word is capitalised ("at 3 p.m. Then ...").
_MAYBE_BREAK_ABBREVIATIONS = frozenset({"a.m", "p.m", "etc"})

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s+|$)")
_CLAUSE_PUNCT = re.compile(r"[,;:](?=\s)|\s(?:--?|—|–)(?=\s)")
_CONJUNCTION = re.compile(r"\s(?=(?:and|but|or|so|because|then)\s)", re.IGNORECASE)


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences, keeping abbreviations, decimals and times intact."""
    out: list[str] = []
    for block in re.split(r"\s*\n\s*\n\s*|\s*\n\s*(?=[-*•]\s)", text.strip()):
        start = 0
        for match in _SENTENCE_END.finditer(block):
            end = match.end()
            if match.group().startswith(".") and not _period_ends_sentence(block, match):
                continue
            _append_sentence(out, block[start:end])
            start = end
        _append_sentence(out, block[start:])
    if len(out) > 1 and not any(c.isalnum() for c in out[0]):
        out[1] = f"{out[0]} {out[1]}"  # leading punctuation joins the first real sentence
        del out[0]
    return out


def _append_sentence(out: list[str], raw: str) -> None:
    piece = " ".join(raw.split())
    if not piece:
        return
    if out and not any(c.isalnum() for c in piece):
        out[-1] = f"{out[-1]} {piece}"  # stray punctuation or an emoticon: sentence before
        return
    out.append(piece)


def _period_ends_sentence(block: str, match: re.Match[str]) -> bool:
    word = re.search(r"(\S+)$", block[: match.start()])
    token = word.group(1).lower().lstrip("(\"'") if word else ""
    after = block[match.end():].lstrip()
    if not after:
        return True
    next_is_capital = after[0].isupper()
    if token in _MAYBE_BREAK_ABBREVIATIONS:
        return next_is_capital
    if token in _NO_BREAK_ABBREVIATIONS:
        return False
    # A single capital letter is an initial ("J. Smith"), not the end of a sentence.
    return not (len(token) == 1 and token.isalpha() and next_is_capital)


def split_clauses(text: str, *, long_chars: int = 60, min_words: int = 3) -> list[str]:
    """Split ``text`` into sentences, and sentences longer than ``long_chars`` into clauses.

    Every returned piece has at least ``min_words`` words unless its whole sentence is
    shorter. Joining the pieces with spaces gives back the text with whitespace collapsed.
    """
    out: list[str] = []
    for sentence in split_sentences(text):
        if len(sentence) <= long_chars:
            out.append(sentence)
            continue
        pieces: list[str] = []
        for part in _cut(sentence, _CLAUSE_PUNCT):
            if len(part) > long_chars:
                pieces.extend(_cut(part, _CONJUNCTION))
            else:
                pieces.append(part)
        out.extend(_merge_short(pieces, min_words))
    return out


def _cut(text: str, pattern: re.Pattern[str]) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        piece = text[start : match.end()].strip()
        if piece:
            pieces.append(piece)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


def _words(text: str) -> int:
    return sum(1 for w in text.split() if any(c.isalnum() for c in w))


def _merge_short(pieces: list[str], min_words: int) -> list[str]:
    """Glue pieces shorter than ``min_words`` onto the next piece (the last one onto the one
    before), so "milk, eggs, bread," is spoken as one clause rather than three."""
    merged: list[str] = []
    pending = ""
    for piece in pieces:
        pending = f"{pending} {piece}" if pending else piece
        if _words(pending) >= min_words:
            merged.append(pending)
            pending = ""
    if pending:
        if merged:
            merged[-1] = f"{merged[-1]} {pending}"
        else:
            merged.append(pending)
    return merged


# --- numbers -----------------------------------------------------------------------------

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
         "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def number_words(n: int) -> str:
    """Cardinal number in words: 1234 is "one thousand two hundred thirty-four"."""
    if n < 0:
        return "minus " + number_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_words(rest)}" if rest else "")
    if n >= 10**15:
        return _digits(str(n))
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return f"{number_words(high)} {name}" + (f" {number_words(rest)}" if rest else "")
    raise AssertionError("unreachable")  # pragma: no cover


def ordinal_words(n: int) -> str:
    """Ordinal number in words: ``ordinal_words(22)`` is "twenty-second"."""
    words = number_words(n)
    head, sep, last = words.rpartition("-") if "-" in words.split(" ")[-1] else (
        words.rpartition(" "))
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head}{sep}{last}"


def _year_words(n: int) -> str:
    if 2000 <= n <= 2009:
        return number_words(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{number_words(high)} hundred"
    if low < 10:
        return f"{number_words(high)} oh {_ONES[low]}"
    return f"{number_words(high)} {number_words(low)}"


def _digits(text: str) -> str:
    return " ".join(_ONES[int(c)] for c in text if c.isdigit())


# --- normalisation -----------------------------------------------------------------------

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_MONTH_ABBR = {m[:3].lower(): m for m in _MONTHS} | {"sept": "September"}
_ABBREVIATIONS = [
    (re.compile(r"\be\.g\.(?=\s|$|,)", re.IGNORECASE), "for example"),
    (re.compile(r"\bi\.e\.(?=\s|$|,)", re.IGNORECASE), "that is"),
    (re.compile(r"\betc\.(?=\s|$|,)|\betc\b", re.IGNORECASE), "et cetera"),
    (re.compile(r"\bvs\.?(?=\s)", re.IGNORECASE), "versus"),
    (re.compile(r"\bMr\.(?=\s)"), "Mister"),
    (re.compile(r"\bMrs\.(?=\s)"), "Missus"),
    (re.compile(r"\bMs\.(?=\s)"), "Miz"),
    (re.compile(r"\bDr\.(?=\s+[A-Z])"), "Doctor"),
    (re.compile(r"\bapprox\.(?=\s)", re.IGNORECASE), "approximately"),
    (re.compile(r"\bw/(?=\s)"), "with"),
    (re.compile(r"\s&\s"), " and "),
]
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
             "£": ("pound", "pounds", "penny", "pence")}

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTH_DAY = re.compile(
    r"\b(" + "|".join(sorted({*_MONTHS, *(m.capitalize() for m in _MONTH_ABBR)}, key=len,
                             reverse=True))
    + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?!:)(,?\s+(\d{4})\b)?")
_TIME = re.compile(
    r"\b(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s?m\b\.?|\b(\d{1,2}):(\d{2})\b", re.IGNORECASE)
_MONEY = re.compile(r"([$€£])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?\b")
_PHONE = re.compile(r"(?<![\w.])\+?\d{1,4}(?:[ -]\(?\d{2,4}\)?){2,5}(?!\w|\.\d)|"
                    r"(?<![\w.])\d{3}-\d{4}(?!\w|\.\d)")
_PERCENT = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)\s?%")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_HASH_NUMBER = re.compile(r"#(\d+)\b")
_DECIMAL = re.compile(r"(?<![\w.])(-?)(\d+)\.(\d+)(?![\w.]*\d)")
_INTEGER = re.compile(r"(?<![\w.])(-?)(\d{1,3}(?:,\d{3})+|\d+)(?![\d])")
_MARKDOWN = re.compile(r"[*_`~]+|^#+\s*|^\s*[-•]\s+", re.MULTILINE)


def normalize_for_speech(text: str) -> str:
    """Rewrite digits, times, dates, money and abbreviations as words a TTS voice says well.

    ``"Call Dr. Smith at 3:30 PM about the $4.50 fee"`` becomes
    ``"Call Doctor Smith at three thirty P M about the four dollars and fifty cents fee"``.
    """
    text = _MARKDOWN.sub(" ", text)
    text = _ISO_DATE.sub(_iso_date, text)
    text = _MONTH_DAY.sub(_month_day, text)
    text = _TIME.sub(_time, text)
    text = _MONEY.sub(_money, text)
    text = _PHONE.sub(lambda m: ", ".join(_digits(g) for g in re.split(r"[ -]+", m.group())
                                          if any(c.isdigit() for c in g)), text)
    text = _PERCENT.sub(lambda m: f"{_decimal_or_int(m.group(1))} percent", text)
    text = _ORDINAL.sub(lambda m: ordinal_words(int(m.group(1))), text)
    text = _HASH_NUMBER.sub(lambda m: f"number {number_words(int(m.group(1)))}", text)
    for pattern, words in _ABBREVIATIONS:
        text = pattern.sub(words, text)
    text = _DECIMAL.sub(lambda m: _decimal_or_int(m.group(0)), text)
    text = _INTEGER.sub(_integer, text)
    return " ".join(text.split())


def _decimal_or_int(raw: str) -> str:
    sign = "minus " if raw.startswith("-") else ""
    whole, _, frac = raw.lstrip("-").partition(".")
    words = number_words(int(whole))
    return sign + (f"{words} point {_digits(frac)}" if frac else words)


def _integer(m: re.Match[str]) -> str:
    sign, raw = m.group(1), m.group(2)
    prefix = "minus " if sign else ""
    if "," in raw:
        return prefix + number_words(int(raw.replace(",", "")))
    if len(raw) >= 5 or (len(raw) > 1 and raw.startswith("0")):
        return prefix + _digits(raw)  # account numbers, codes: digit by digit
    if len(raw) == 4 and 1100 <= int(raw) <= 2099 and not sign:
        return _year_words(int(raw))
    return prefix + number_words(int(raw))


def _iso_date(m: re.Match[str]) -> str:
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group()
    return f"{_MONTHS[month - 1]} {ordinal_words(day)}, {_year_words(year)}"


def _month_day(m: re.Match[str]) -> str:
    name = m.group(1)
    month = _MONTH_ABBR.get(name[:4].lower() if name.lower() == "sept" else name[:3].lower(),
                            name)
    day = int(m.group(2))
    if not 1 <= day <= 31:
        return m.group()
    out = f"{month} {ordinal_words(day)}"
    if m.group(4):
        out += f", {_year_words(int(m.group(4)))}"
    return out


def _time(m: re.Match[str]) -> str:
    if m.group(3) is not None:  # "3 PM", "3:30 p.m."
        hour, minute, suffix = int(m.group(1)), int(m.group(2) or 0), m.group(3).upper() + " M"
    else:  # "15:45"
        hour, minute, suffix = int(m.group(4)), int(m.group(5)), ""
    if hour > 24 or minute > 59:
        return m.group()
    if minute == 0:
        middle = "" if suffix else (" o'clock" if 1 <= hour <= 12 else " hundred")
    elif minute < 10:
        middle = f" oh {_ONES[minute]}"
    else:
        middle = f" {number_words(minute)}"
    spoken = f"{number_words(hour)}{middle}" + (f" {suffix}" if suffix else "")
    rest = m.string[m.end():].lstrip()
    if m.group().endswith(".") and (not rest or rest[0].isupper()):
        spoken += "."  # "at 9 a.m." ends the sentence too
    return spoken


def _money(m: re.Match[str]) -> str:
    one, many, cent, cents = _CURRENCY[m.group(1)]
    whole = int(m.group(2).replace(",", ""))
    frac = int((m.group(3) or "0").ljust(2, "0"))
    parts = []
    if whole or not frac:
        parts.append(f"{number_words(whole)} {one if whole == 1 else many}")
    if frac:
        parts.append(f"{number_words(frac)} {cent if frac == 1 else cents}")
    return " and ".join(parts)
