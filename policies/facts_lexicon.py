"""The word lists `facts` reads: negators, antonym axes, stopwords, calendar names. Kept
apart so the lists can grow without touching the checks; every word is lower case."""

from __future__ import annotations


def _forms(base: str) -> set[str]:
    """A verb or adjective with its regular inflections ("raise" -> raises, raised,
    raising); over-generation is harmless, the lists are looked up, never printed."""
    stem = base[:-1] if base.endswith("e") else base
    out = {base, base + "s", base + "es", base + "d", base + "ed", stem + "ing", stem + "ed"}
    if base.endswith("y"):
        out |= {base[:-1] + "ies", base[:-1] + "ied"}
    return out


# Each axis: (words at one pole, words at the other). "raises" vs "lowers" is a flip; a
# text holding both poles of an axis says nothing one-sided about it and is left alone.
_AXES: dict[str, tuple[str, str]] = {
    "up/down": ("raise increase rise rose risen boost grow grew grown climb expand lift up upward high higher more "
                "accelerate strengthen", "low lower decrease reduce fall fell fallen drop cut decline shrink shrank "
                "contract sink sank down downward less fewer decelerate weaken"),
    "win/lose": ("win wins won winning gain gained gains victory", "lose loses lost losing defeat defeated defeats"),
    "before/after": ("before earlier prior", "after later"),
    "above/below": ("above over exceed exceeds exceeded exceeding", "below under beneath"),
    "open/closed": ("open opened opens opening", "closed closes closing shut shuts"),
    "larger/smaller": ("large larger big bigger greater largest biggest greatest long longer longest tall taller "
                       "heavy heavier wide wider", "small smaller smallest short shorter shortest lighter narrow "
                       "narrower tiny tinier"),
    "profit/loss": ("profit profits surplus", "loss losses deficit"),
    "heat/cool": ("heat heated heating warmed", "cool cooled cooling chilled"),
    "midnight/noon": ("midnight", "noon midday"),
    "carnivore/herbivore": ("carnivore carnivores carnivorous", "herbivore herbivores herbivorous"),
    "faster/slower": ("faster quicker fastest", "slower slowest"),
    "hotter/colder": ("hot hotter warmer warm hottest", "cold colder cooler coldest"),
    "older/younger": ("older oldest elder", "younger youngest"),
    "first/last": ("first earliest", "last latest final"),
    "max/min": ("maximum max most highest many", "minimum min least lowest few"),
    "north/south": ("north northern northward", "south southern southward"),
    "east/west": ("east eastern eastward", "west western westward"),
    "true/false": ("true correct valid accurate", "false incorrect wrong invalid inaccurate"),
    "safe/unsafe": ("safe harmless", "unsafe dangerous harmful toxic poisonous"),
    "legal/illegal": ("legal lawful allowed permitted legalised legalized", "illegal unlawful forbidden banned prohibited"),
    "accept/reject": ("accept approve grant pass succeed", "reject deny refuse fail"),
    "positive/negative": ("positive", "negative"),
    "buy/sell": ("buy bought buys buying purchase", "sell sold sells selling"),
    "import/export": ("import importer", "export exporter"),
    "inside/outside": ("inside indoors interior", "outside outdoors exterior"),
    "include/exclude": ("include inclusive", "exclude exclusive"),
    "arrive/depart": ("arrive arrival", "depart departure"),
    "add/remove": ("add added adds adding insert", "remove delete subtract"),
    "enable/disable": ("enable activate", "disable deactivate"),
    "alive/dead": ("alive living survived", "dead died killed"),
    "cheap/expensive": ("cheap cheaper cheapest inexpensive", "expensive costlier pricier"),
    "strong/weak": ("strong stronger strongest", "weak weaker weakest"),
    "easy/hard": ("easy easier easiest", "hard harder hardest difficult"),
    "wet/dry": ("wet wetter humid", "dry drier arid"),
    "full/empty": ("full", "empty"),
    "bright/dark": ("bright brighter", "dark darker"),
    "mandatory/optional": ("mandatory required compulsory obligatory", "optional voluntary"),
    "acidic/alkaline": ("acidic", "alkaline"),
    "near/far": ("closer nearer closest nearest near", "farther farthest far"),
    "always/sometimes": ("always", "sometimes occasionally rarely seldom"),
    "male/female": ("male", "female"),
    "public/private": ("public", "private"),
    "input/output": ("input", "output"),
    "push/pull": ("push", "pull"),
    "cause/prevent": ("cause", "prevent"),
}
# Past forms and comparatives are listed as they are; the rest get regular inflections.
_IRREGULAR = {"few", "many", "midnight", "noon", "midday", "rose", "risen", "grew", "grown", "fell", "fallen", "shrank", "sank", "lost", "won", "bought", "sold",
              "died", "killed", "up", "down", "over", "under", "more", "less", "fewer", "most", "least", "far"}


def _poles() -> dict[str, tuple[str, int]]:
    poles: dict[str, tuple[str, int]] = {}
    for axis, sides in _AXES.items():
        for pole, words in enumerate(sides):
            for word in words.split():
                forms = {word} if word in _IRREGULAR else _forms(word)
                for form in forms:
                    poles.setdefault(form, (axis, pole))
    return poles


POLES = _poles()

# "nothing" is left out: "costs nothing" is a price, not a negation.
# "unable" is counted by the "unable to" pattern with "failed to".
# Opposites that are phrases, not words: read before the word poles and negations (which
# they would otherwise trip twice: "before meals" is no "before/after" of time here, and
# "without food" no negation of the whole answer).
PHRASE_POLES: dict[str, tuple[str, str]] = {
    "with food/empty stomach": (
        r"\b(?:with|after|alongside)\s+(?:food|a\s+meal|meals|eating|a\s+snack|milk|breakfast|dinner|lunch)\b"
        r"|\bon\s+a\s+full\s+stomach\b",
        r"\bon\s+an?\s+empty\s+stomach\b|\b(?:before|between)\s+(?:food|a\s+meal|meals|eating(?:\s+anything)?|breakfast)\b"
        r"|\bwithout\s+(?:food|a\s+meal|eating)\b|\bwhile\s+fasting\b",
    ),
}

NEGATORS = frozenset("not no never none nobody neither nor cannot without nowhere lacks lacking".split())

STOPWORDS = frozenset(
    "a an the is are was were be been being am of at to in on for by with about as so it its this that these those "
    "there here which who whom whose what when where while and or but if then than also too very just only "
    "has have had do does did can could may might will would shall should must i you he she we they me him her us them "
    "my your his our their mine yours hers ours theirs from into onto upon out up down over under again once "
    "all any both each few many much some such own other another same per via".split()
) - {"up", "down", "over", "under"}

CALENDAR_WORDS = frozenset(
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday "
    "mondays tuesdays wednesdays thursdays fridays saturdays sundays".split()
)

# Verbs and words whose two sides may trade places without changing the fact.
SYMMETRIC = frozenset(
    "and or with met meet meets married marry marries versus vs against played play partnered partner partners "
    "tied tie ties drew draw merged merge merges fought fight fights equals equal beside near together "
    "between among both also".split()
)

TIMES_WORDS = {"once": 1, "twice": 2, "thrice": 3}

# Capitalised in prose without naming anyone.
COMMON_CAPITALISED = frozenset("i i'm i've i'd i'll ok yes no".split())

# Closed classes whose members exclude each other: "the red car" is not "the blue car".
EXCLUSIVE: dict[str, frozenset[str]] = {
    "colour": frozenset("red orange yellow green blue purple violet pink brown black white grey gray silver gold".split()),
    "transport": frozenset("car bus train rail air plane ship boat sea road bicycle bike ferry truck lorry".split()),
    "metal": frozenset("iron copper aluminium aluminum steel zinc tin lead nickel titanium".split()),
    "season": frozenset("spring summer autumn fall winter".split()),
    "continent": frozenset("africa asia europe antarctica australia oceania".split()),
    "suit": frozenset("hearts diamonds clubs spades".split()),
}
