"""Task titles out of transcripts: strip the command words around them.

Input is normalised text with the date phrase already taken out (see ``nlu.dates``):
"add a task to call the plumber" -> "call the plumber"; "move the dentist to" -> "dentist";
"mark buy eggs as done" -> "buy eggs".
"""

from __future__ import annotations

import re

_LEAD = (
    r"^(?:(?:ok|okay|so|and|hey|hi|please|now|also|then|um|well|yes|yeah|no|"
    r"can you|could you|would you|will you|can i|i want to|i'd like to|i would like to|"
    r"i wanna|let's|go ahead and|just)\s+)*"
)
_ARTICLE = r"(?:(?:a|an|the|another|one|my|this|that)\s+)?"
_NOUN = r"(?:new\s+)?(?:task|tasks|to do|todo|to dos|item|reminder|note|entry)"
_NAMED = r"(?:\s+(?:to|called|named|saying|that says|which is|for|about|of|is))?"

# A request to add, as a grammar rather than a phrase list: who asks and how (I should
# probably, can you), a verb of recording, then optionally the thing made (a new reminder,
# a to do) and a link (to, that says, called), politeness anywhere between; the rest is the
# title. Verbs that are also everyday task verbs ("make dinner", "set up the printer") count
# as recording only with the thing made after them ("make a note to ...").
_ADV = r"(?:(?:really|just|also|probably|definitely|still|quickly|please)\s+)*"
_MODAL = (r"(?:need to|have to|got to|ought to|must|should|want to|would like to|'d like to|"
          r"wanna|gotta|will|'ll)")
_WHO = rf"(?:(?:i|we)\s+{_ADV}{_MODAL}\s+{_ADV})"
_RECORD = r"(?:add|put|stick|write down|note down|jot down|jot|create)"
_RECORD_THING = r"(?:make|set up|set|write|note|schedule|new|start)"
_THING = rf"(?:{_ARTICLE}(?:new\s+)?{_NOUN}{_NAMED}\s+{_ADV})"
_WANT = rf"(?:(?:i|we)\s+(?:want|need|would like|'d like)\s+{_THING})"
_REMEMBER = (r"(?:(?:please\s+)?(?:remember|remind me|make sure|don't let me forget|"
             r"do not let me forget)\s+(?:for me\s+)?(?:that\s+)?(?:i\s+)?(?:to\s+)?)")

_PATTERNS: dict[str, tuple[str, ...]] = {
    "add": (
        rf"{_WHO}?{_REMEMBER}",
        rf"{_WHO}?{_RECORD}\s+(?:(?:me|for me|down)\s+)?{_ADV}{_THING}?(?:to\s+)?",
        rf"{_WHO}?{_RECORD_THING}\s+{_ADV}{_THING}",
        rf"{_WANT}",
        rf"{_THING}",
        rf"{_WHO}",
        r"(?:i need to remember to|don't let me forget to|remember to|remind me|reminder|"
        r"i need to|i have to|i've got to|i must|i should|need to)\s+(?:to\s+)?",
        rf"{_NOUN}\s*(?::|to)?\s+",
    ),
    "complete": (
        rf"(?:mark|check off|tick off|cross off|check|tick|cross|complete|finish|close)\s+"
        rf"(?:{_ARTICLE}{_NOUN}{_NAMED}\s+)?",
        r"(?:i(?: have| 've|'ve)?\s+)?(?:already\s+|just\s+)?(?:finished|completed|done|did)\s+"
        r"(?:with\s+)?",
        r"done with\s+",
        r"i(?: have|'ve)?\s+(?:already|just)\s+",
    ),
    "delete": (
        rf"(?:delete|remove|erase|scratch|drop|cancel|get rid of|forget about|forget|"
        rf"take|delete the)\s+(?:{_ARTICLE}{_NOUN}{_NAMED}\s+)?",
    ),
    "reschedule": (
        rf"(?:move|reschedule|postpone|push|delay|defer|shift|change|set|make)\s+"
        rf"(?:(?:the\s+)?(?:due date|due time|date|time|deadline)\s+(?:of|for|on)\s+)?"
        rf"(?:{_ARTICLE}{_NOUN}{_NAMED}\s+)?",
    ),
}
_TAILS: dict[str, str] = {
    "add": r"\s+(?:to|on|in|onto|into)\s+(?:my|the)\s+(?:list|to do list|tasks|to dos)$",
    "complete": r"\s+(?:as\s+)?(?:is|are|as)?\s*(?:done|complete|completed|finished|off)"
    r"(?:\s+(?:now|already))?$|\s+off(?:\s+(?:my|the)\s+list)?$",
    "delete": r"\s+(?:from|off)\s+(?:my|the)\s+(?:list|tasks|to do list)$|\s+off$|"
    r"\s+(?:task|item)$",
    "reschedule": r"\s+(?:to|until|till|for|back|back to|on|by|due|forward)$|"
    r"\s+(?:due date|due time|date|time|deadline)$|"
    r"\s+(?:task|item)$|\s+(?:back|forward)\s+(?:to|by)$",
}
_GENERIC_TAIL = r"\s+(?:please|thanks|thank you|now|for me|it|task)$"
_EMPTY = frozenset({"", "it", "that", "this", "one", "them", "all", "everything", "task", "tasks"})
_ALL_FILLER = frozenset(
    {"all", "of", "my", "the", "them", "tasks", "task", "everything", "every", "open", "to", "dos"}
)
ALL_WORDS = re.compile(r"\b(?:all|everything|every task|all of them|all my)\b")


def extract_title(intent: str, text: str) -> str:
    """The task title in ``text`` for ``intent``; ``""`` when none was said."""
    title = re.sub(_LEAD, "", text.strip() + " ")
    for pattern in _PATTERNS.get(intent, ()):
        stripped = re.sub(rf"^{pattern}", "", title, count=1)
        if stripped != title:
            title = stripped
            break
    title = re.sub(_LEAD, "", title).strip()
    for _ in range(3):
        before = title
        tail = _TAILS.get(intent)
        if tail:
            title = re.sub(tail, "", title).strip()
        title = re.sub(_GENERIC_TAIL, "", title).strip()
        if title == before:
            break
    title = re.sub(rf"^{_ARTICLE}{_NOUN}{_NAMED}\s+", "", title) if intent != "add" else title
    title = re.sub(r"^(?:to|the|a|an)\s+", "", title) if intent == "add" else title
    title = title.strip(" :,")
    if not set(title.split()) - _ALL_FILLER:
        return ""  # "all my tasks", "them all": no title, see mentions_all
    return "" if title in _EMPTY else title


def mentions_all(text: str) -> bool:
    return ALL_WORDS.search(text) is not None
