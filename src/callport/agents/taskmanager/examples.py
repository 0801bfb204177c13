"""What callers say to the Task Manager: example phrases per intent, and keyword pins.

The examples are embedded once per process. They are what callers mean, not what a recogniser
once wrote for it: no observed transcription slips ("at a task", "the lead") are listed here;
the STT prompt (``speech.whisper.DEFAULT_PROMPT``) and the agent's hints steer Whisper toward
the command words instead, and bench/bench_understanding.py measures the result on a corpus
written apart from these examples.
"""

from __future__ import annotations

from callport.nlu.intents import IntentClassifier

ADD = "add"
LIST = "list"
COMPLETE = "complete"
DELETE = "delete"
RESCHEDULE = "reschedule"
HELP = "help"
GOODBYE = "goodbye"
YES = "yes"
NO = "no"
MORE = "more"

EXAMPLES: dict[str, tuple[str, ...]] = {
    ADD: (
        "add a task",
        "add a task to buy milk",
        "add buy milk to my list",
        "new task call the dentist tomorrow",
        "create a task to pay the electricity bill",
        "remind me to call mom at 5 pm",
        "put pick up the kids on my list",
        "I need to renew my passport next week",
        "make a new to do repaint the fence",
        "add a to do to buy bread",
        "add the task book flights",
        "can you add walk the dog tonight",
        "add an item send the invoice on friday",
        "note down email the landlord",
        "schedule a task to clean the garage on saturday",
        "I have to finish the report by monday",
        "jot down order printer ink",
        "set a reminder to call the vet",
        "I must book the car service",
        "put return the drill on the list for saturday",
        "make sure I call the vet on monday",
        "stick pay the nanny on my list",
    ),
    LIST: (
        "what are my tasks",
        "list my tasks",
        "read me my to do list",
        "what's on my list",
        "what do I have to do today",
        "what's due tomorrow",
        "show my tasks",
        "tell me my tasks for this week",
        "do I have anything due today",
        "what is on my agenda",
        "read my list",
        "what's left to do",
        "what are my to dos",
        "any tasks for tomorrow",
        "remind me what I have to do",
        "what have I got to do this week",
        "what's pending",
        "anything coming up",
    ),
    COMPLETE: (
        "mark buy milk as done",
        "I finished the report",
        "complete the task call mom",
        "check off pay rent",
        "I bought the milk",
        "done with the laundry",
        "mark the dentist task complete",
        "I've done walk the dog",
        "tick off send the invoice",
        "mark all tasks as done",
        "complete all my tasks",
        "the laundry is done",
        "cross off buy bread",
        "the printer ink is ordered",
        "I've returned the drill",
        "the car service is booked",
        "I sent the email to the vet",
    ),
    DELETE: (
        "delete the task buy milk",
        "remove call mom from my list",
        "cancel the dentist task",
        "get rid of the laundry task",
        "erase pay rent",
        "take walk the dog off my list",
        "delete buy bread",
        "drop the task book flights",
        "forget about the garage",
        "remove the report task",
        "please delete buy milk",
        "delete all my tasks",
        "scrap the car service",
        "wipe the vet task",
        "I don't need to order printer ink anymore",
        "lose the drill task",
    ),
    RESCHEDULE: (
        "move buy milk to tomorrow",
        "reschedule the dentist to friday at 3 pm",
        "change the due date of pay rent to the 5th",
        "push call mom to next week",
        "postpone the report until monday",
        "make the laundry due tonight",
        "move the meeting to 4 pm",
        "change walk the dog to tomorrow morning",
        "delay send the invoice by 2 days",
        "set the due date for book flights to december 3rd",
        "reschedule call the bank",
        "put the car service off until next week",
        "the vet should be due on thursday",
        "can the drill wait until saturday",
        "bump the printer ink to monday",
    ),
    HELP: (
        "help",
        "what can you do",
        "how does this work",
        "what can I say",
        "I need help",
        "what are my options",
        "help me please",
        "what should I say",
        "give me some examples",
    ),
    GOODBYE: (
        "goodbye",
        "bye",
        "that's all thanks",
        "hang up",
        "I'm done bye",
        "see you later",
        "that's everything goodbye",
        "end the call",
        "nothing else thank you bye",
        "talk to you later",
    ),
    YES: (
        "yes",
        "yes please",
        "yeah do it",
        "sure go ahead",
        "that's right",
        "correct",
        "absolutely",
        "yes delete it",
    ),
    NO: (
        "no",
        "no thanks",
        "don't do that",
        "never mind",
        "no keep it",
        "stop don't delete it",
        "not now",
    ),
    MORE: (
        "continue",
        "more",
        "keep going",
        "go on",
        "what else",
        "read the rest",
        "next ones",
    ),
}

OUT_OF_SCOPE = (
    "what's the weather like",
    "what is the weather today",
    "tell me a joke",
    "who won the game last night",
    "play some music",
    "what time is it in tokyo",
    "how tall is mount everest",
    "order a pizza",
    "what's the capital of france",
    "I'd like to speak to a human",
    "how are you",
    "what's your name",
    "turn on the lights",
    "book me a table for two",
    "what's the news today",
    "translate hello into spanish",
        "set an alarm for seven am",
        "what's the score",
)

# Whole-utterance pins for the short answers embeddings are weak at (normalised text).
_POLITE = r"(?: please| thanks| thank you)?"
KEYWORDS: dict[str, tuple[str, ...]] = {
    YES: (
        r"(?:yes|yeah|yep|yup|sure)\b(?! (?:add|delete|remove|move|mark)\b).*",
        rf"(?:yes|yeah|yep|yup|sure|ok|okay|correct|right|affirmative|do it|go ahead|"
        rf"yes do it|yes please|please do|confirm|confirmed){_POLITE}",
    ),
    NO: (
        r"(?:no|nope|nah)\b(?! (?:add|delete|remove|move|mark)\b).*",
        rf"(?:no|nope|nah|cancel|stop|don't|do not|never mind|nevermind|no don't|"
        rf"no thanks|no thank you|not now|keep it|abort){_POLITE}",
    ),
    GOODBYE: (r"(?:ok |okay |thanks |thank you )?(?:bye|goodbye|bye bye|good bye|hang up)",),
    HELP: (r"(?:help|help me|menu|options|what can you do|what can i say)(?: please)?",),
    MORE: (r"(?:more|continue|go on|keep going|next|and then|read more|tell me more)",),
    LIST: (r"(?:list|my tasks|tasks|my list|list tasks|list my tasks|read my tasks)",),
}


# Command-verb cues that add to an intent's embedding score (searched in normalised text).
_LEAD = r"^(?:(?:ok|okay|so|and|please|can you|could you|would you|i want to|i'd like to|"
_LEAD += r"i need to|let's)\s+)*"
BOOSTS: dict[str, tuple[str, ...]] = {
    ADD: (
        _LEAD + r"(?:add|create|make)\s+(?:a|an|the|another)?\s*(?:new\s+)?"
        r"(?:task|to do|todo|item|reminder|note)\b",
        _LEAD + r"(?:add|create)\b",
        r"^new (?:task|to do|todo|item|reminder)\b",
        _LEAD + r"remind me\b",
        r"\bput\b.*\b(?:on|in|to) my (?:list|tasks|to do)",
    ),
    DELETE: (
        _LEAD + r"(?:delete|remove|erase|scratch|drop|cancel)\b",
        r"\b(?:delete|remove|erase|get rid of)\b",
        r"\btake\b.*\boff\b",
    ),
    COMPLETE: (
        _LEAD + r"(?:mark|check off|tick off|cross off|complete|finish)\b",
        r"\b(?:as|is|are) (?:done|complete|completed|finished)\b",
        r"\b(?:mark|check|tick|cross) (?:it|them|that|this)?\s*(?:off|done|complete)\b",
        r"^i(?: have|'ve)? (?:already|just) \w+",
    ),
    RESCHEDULE: (
        _LEAD + r"(?:move|reschedule|postpone|push|delay|defer|shift)\b",
        r"\bchange\b.*\b(?:to|date|time)\b",
        r"\b(?:due date|due time)\b",
    ),
}


# Weight of the examples' keyword evidence (``nlu.lexical``) on the embedding score; tuned on
# bench/dev/taskmanager_dev.json (0.0 / 0.1 / 0.2 / 0.3 -> 58 / 67 / 60 / 58 % outcome).
LEXICAL = 0.1


def build_classifier(threshold: float = 0.3, margin: float = 0.02, lexical: float = LEXICAL
                     ) -> IntentClassifier:
    """The Task Manager's intent classifier on the shared MiniLM embedder."""
    return IntentClassifier(
        examples=EXAMPLES,
        keywords=KEYWORDS,
        out_of_scope=OUT_OF_SCOPE,
        boosts=BOOSTS,
        boost=0.15,
        threshold=threshold,
        margin=margin,
        lexical=lexical,
    )
