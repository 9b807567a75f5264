"""phrasing.py: question wordings built from parts, for the training data.

A handful of fixed templates a family teaches a small model those
templates, not the task: it learns that "A crate holds ..." means
"a * b - c" and is lost on a wording it has not seen.  Here a question is
assembled from a subject, a verb, a container, an item, a way of losing
or adding some, and a way of asking, each drawn from a list, so that the
cue words (of, each, per, left, more, percent, shared) are what the
operation can be read from.  The held-out test split never uses these:
its templates stay the fixed "T:" ones in gen_data.py.

Also here: paraphrases of the knowledge-base questions (one list of
phrasings an attribute, combined with openers), and invented tools made
up from an attribute and an entity (a few hundred concepts instead of
two dozen, with names that are often arbitrary, so that the right tool
can only be found by reading the descriptions).
"""

import customtools as ct

ITEMS = ["apples", "pears", "eggs", "books", "pens", "cards", "bottles",
         "cups", "stamps", "coins", "shirts", "toys", "bricks", "tiles",
         "plates", "muffins", "candles", "lamps", "seeds", "stones",
         "nails", "screws", "marbles", "beads", "buttons", "socks",
         "letters", "tickets", "chairs", "bikes", "melons", "lemons",
         "oranges", "onions", "cookies", "bags of rice", "jars of jam",
         "cans", "bulbs", "roses", "plants", "mugs", "boots", "hats",
         "flags", "maps", "keys", "shells", "rocks", "logs", "planks",
         "pies", "cakes", "loaves", "boxes of tea", "radios", "kites",
         "balls", "gloves", "towels", "spoons", "forks", "bowls"]

CONTAINERS = ["boxes", "crates", "bags", "baskets", "trays", "packs",
              "cartons", "sacks", "shelves", "rows", "racks", "bins",
              "cases", "barrels", "buckets", "drawers", "piles", "stacks",
              "bundles", "carts", "pallets", "chests", "tins", "nets"]

HOLDERS = ["A shop", "A farm", "A school", "A market", "A warehouse",
           "A factory", "A store", "A club", "A hotel", "A village",
           "A bakery", "A gardener", "A teacher", "A trader", "A depot",
           "A museum shop", "A camp", "A kitchen", "A workshop",
           "A harbour stall", "A toy shop", "A florist", "A cafe",
           "Mia", "Tom", "Ravi", "Lena", "Omar", "Greta", "Jun", "Ada",
           "Uncle Bo", "The team", "The school", "The city"]

HAS = ["has", "holds", "gets", "buys", "keeps", "stores", "receives",
       "orders", "packs", "owns", "collects", "brings in"]

# {c} {it} <removal>, or "{c} of them <removal>"
REMOVALS = ["are rotten", "are broken", "are sold", "are lost",
            "get lost", "are given away", "go bad", "are stolen",
            "are thrown out", "break", "are damaged", "are used up",
            "are returned", "are taken away", "go missing",
            "are handed out", "are spoiled", "fall and break"]

REMAIN_Q = ["How many {it} are left?", "How many {it} remain?",
            "How many {it} are still there?",
            "How many {it} are left over?",
            "What number of {it} is left?",
            "How many good {it} are there?",
            "How many {it} does that leave?",
            "How many {it} are there now?",
            "Count the {it} that are left."]

EXTRAS = ["and {c} loose {it}", "plus {c} extra {it}",
          "and {c} more {it}", "and another {c} {it}",
          "and {c} single {it}", "as well as {c} spare {it}",
          "and {c} {it} on the side", "plus {c} more"]

TOTAL_Q = ["How many {it} are there in all?",
           "How many {it} are there in total?",
           "How many {it} are there altogether?",
           "What is the total number of {it}?",
           "How many {it} is that?",
           "How many {it} does that make?",
           "Find the total number of {it}."]

PERIODS = [("day", "days"), ("week", "weeks"), ("month", "months"),
           ("hour", "hours"), ("year", "years"), ("shift", "shifts"),
           ("night", "nights"), ("morning", "mornings")]

PER = ["a {p}", "each {p}", "every {p}", "per {p}"]

MAKES = ["makes", "sells", "bakes", "builds", "ships", "packs", "prints",
         "grows", "uses", "fixes", "paints", "picks", "collects",
         "produces", "delivers", "loads"]

ADJ_PAIRS = [("red", "blue"), ("small", "large"), ("old", "new"),
             ("green", "yellow"), ("white", "black"), ("short", "long"),
             ("plain", "striped"), ("round", "square"), ("cheap", "fancy")]

GROUPS = [("teams", "team"), ("classes", "class"), ("families", "family"),
          ("groups", "group"), ("clubs", "club"), ("crews", "crew"),
          ("houses", "house"), ("farms", "farm")]

PEOPLE = [("children", "child"), ("friends", "friend"),
          ("workers", "worker"), ("players", "player"),
          ("guests", "guest"), ("pupils", "pupil"),
          ("neighbours", "neighbour"), ("cousins", "cousin")]

NAMES = ["Mia", "Tom", "Ravi", "Lena", "Omar", "Greta", "Jun", "Ada",
         "Noor", "Felix", "Ines", "Kofi", "Sven", "Yara"]

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
        "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "June", "August",
          "September", "October", "November"]

TRIPLES = [("cows", "sheep", "goats", "animals"),
           ("apples", "pears", "plums", "pieces of fruit"),
           ("cars", "vans", "buses", "vehicles"),
           ("oaks", "pines", "birches", "trees"),
           ("novels", "comics", "atlases", "books"),
           ("chairs", "tables", "beds", "pieces of furniture"),
           ("roses", "lilies", "daisies", "flowers"),
           ("pens", "pencils", "crayons", "things to write with"),
           ("men", "women", "children", "people"),
           ("cats", "dogs", "rabbits", "pets")]

UNITS_LEFT = [("litres", "used"), ("dollars", "spent"),
              ("metres", "cut off"), ("kilograms", "sold"),
              ("sheets", "used"), ("points", "lost"),
              ("grams", "eaten"), ("minutes", "used")]


def _items(rng):
    return rng.choice(ITEMS)


def _frame_mul_sub(rng, v):
    it, co = _items(rng), rng.choice(CONTAINERS)
    h, has = rng.choice(HOLDERS), rng.choice(HAS)
    first = rng.choice([
        "{h} {has} {a} {co} of {b} {it}.",
        "{h} {has} {a} {co} with {b} {it} in each.",
        "{h} {has} {a} {co}, each with {b} {it}.",
        "There are {a} {co} of {b} {it} each.",
        "{a} {co} hold {b} {it} each."])
    rem = rng.choice(REMOVALS)
    second = rng.choice(["{c} {it} {rem}.", "{c} of the {it} {rem}.",
                         "Then {c} {it} {rem}.", "Sadly {c} of them {rem}."])
    if rng.random() < 0.3:
        text = first[:-1] + ", and " + second[0].lower() + second[1:]
    else:
        text = first + " " + second
    q = rng.choice(REMAIN_Q)
    return (text + " " + q).format(h=h, has=has, co=co, it=it, rem=rem, **v)


def _frame_mul_add(rng, v):
    it, co = _items(rng), rng.choice(CONTAINERS)
    h, has = rng.choice(HOLDERS), rng.choice(HAS)
    first = rng.choice(["{h} {has} {a} {co} of {b} {it}",
                        "{h} {has} {a} {co} with {b} {it} each",
                        "There are {a} {co} of {b} {it}"])
    extra = rng.choice(EXTRAS)
    q = rng.choice(TOTAL_Q)
    return (first + " " + extra + ". " + q).format(
        h=h, has=has, co=co, it=it, **v)


def _frame_sum_mul(rng, v):
    it = _items(rng)
    if rng.random() < 0.6:
        p1, p2 = rng.choice(PERIODS)
        x, y = rng.choice(ADJ_PAIRS)
        h, mk = rng.choice(HOLDERS), rng.choice(MAKES)
        per = rng.choice(PER).format(p=p1)
        q = rng.choice(["How many {it} in {c} {p2}?",
                        "How many {it} is that in {c} {p2}?",
                        "How many {it} does that come to over {c} {p2}?",
                        "How many {it} after {c} {p2}?"])
        return ("{h} {mk} {a} {x} and {b} {y} {it} {per}. " + q).format(
            h=h, mk=mk, x=x, y=y, it=it, per=per, p2=p2, **v)
    g, gs = rng.choice(GROUPS)
    x, y = rng.choice(ADJ_PAIRS)
    q = rng.choice(["How many {it} are there in all?",
                    "How many {it} do the {g} have together?",
                    "What is the total number of {it}?"])
    return ("Each of {c} {g} has {a} {x} and {b} {y} {it}. " + q).format(
        g=g, x=x, y=y, it=it, **v)


def _frame_mul(rng, v):
    it = _items(rng)
    k = rng.random()
    if k < 0.35:
        co = rng.choice(CONTAINERS)
        return rng.choice([
            "{a} {co} hold {b} {it} each. How many {it} are there?",
            "There are {b} {it} in one of the {co}. How many {it} are in "
            "{a} {co}?",
            "Each of {a} {co} has {b} {it}. How many {it} in all?"]).format(
            co=co, it=it, **v)
    if k < 0.7:
        p1, p2 = rng.choice(PERIODS)
        h, mk = rng.choice(HOLDERS), rng.choice(MAKES)
        per = rng.choice(PER).format(p=p1)
        return rng.choice([
            "{h} {mk} {a} {it} {per}. How many {it} in {b} {p2}?",
            "{h} {mk} {a} {it} {per}. How many {it} does that make in {b} "
            "{p2}?",
            "At {a} {it} {per}, how many {it} are there after {b} {p2}?"
        ]).format(h=h, mk=mk, it=it, per=per, p2=p2, **v)
    return rng.choice([
        "One of the {it} costs {a} dollars. How much do {b} of them cost?",
        "Each of {a} {pp} gets {b} {it}. How many {it} is that?",
        "{a} {pp} each bring {b} {it}. How many {it} do they bring?"
    ]).format(it=it, pp=rng.choice(PEOPLE)[0], **v)


def _frame_sum3(rng, v):
    x, y, z, all_ = rng.choice(TRIPLES)
    h = rng.choice(HOLDERS)
    k = rng.random()
    if k < 0.6:
        q = rng.choice(["How many {all} are there in all?",
                        "How many {all} are there in total?",
                        "How many {all} does {h2} have?",
                        "What is the total number of {all}?"])
        return ("{h} has {a} {x}, {b} {y} and {c} {z}. " + q).format(
            h=h, h2=h[0].lower() + h[1:] if h.startswith("A ") else h,
            x=x, y=y, z=z, all=all_, **v)
    n = rng.choice(NAMES)
    it = _items(rng)
    if k < 0.8:
        d, on = rng.sample(DAYS, 3), "on"
    else:
        d, on = rng.sample(MONTHS, 3), "in"
    verb = rng.choice(["collected", "sold", "made", "counted", "found",
                       "packed", "picked"])
    q = rng.choice(["How many {it} in all?", "How many {it} altogether?",
                    "How many {it} did {n} handle in total?"])
    return ("{n} {verb} {a} {it} {on} {d0}, {b} {on} {d1} and {c} {on} "
            "{d2}. " + q).format(n=n, verb=verb, it=it, on=on, d0=d[0],
                                 d1=d[1], d2=d[2], **v)


def _frame_sub2(rng, v):
    unit, used = rng.choice(UNITS_LEFT)
    h = rng.choice(HOLDERS)
    d = rng.sample(DAYS, 2)
    first = rng.choice(["{h} has {a} {u}.", "{h} starts with {a} {u}.",
                        "There are {a} {u} at first."])
    second = rng.choice(["{b} {u} are {used} on {d0} and {c} on {d1}.",
                         "First {b} are {used}, then {c} more.",
                         "{b} {u} are {used} and then another {c}."])
    q = rng.choice(["How many {u} are left?", "How many {u} remain?",
                    "How many {u} are there now?"])
    return (first + " " + second + " " + q).format(
        h=h, u=unit, used=used, d0=d[0], d1=d[1], **v)


def _frame_div(rng, v):
    it = _items(rng)
    pp, p1 = rng.choice(PEOPLE)
    k = rng.random()
    if k < 0.6:
        how = rng.choice(["shared equally among", "split evenly between",
                          "divided equally among", "handed out fairly to",
                          "given in equal parts to"])
        q = rng.choice(["How many {it} does each {p1} get?",
                        "How many {it} per {p1}?",
                        "How many {it} go to each {p1}?"])
        return ("{a} {it} are {how} {b} {pp}. " + q).format(
            it=it, how=how, pp=pp, p1=p1, **v)
    co = rng.choice(CONTAINERS)
    return rng.choice([
        "{a} {it} are packed into {co} of {b}. How many {co} are needed?",
        "{a} {it} go into {co} that take {b} each. How many {co} is that?",
        "Each of the {co} takes {b} {it}. How many {co} hold {a} {it}?"
    ]).format(it=it, co=co, **v)


def _frame_pct(rng, v):
    it = _items(rng)
    h = rng.choice(HOLDERS)
    return rng.choice([
        "What is {b} percent of {a}?",
        "Find {b} percent of {a}.",
        "{b} percent of the {a} {it} are sold. How many {it} are sold?",
        "{h} has {a} {it} and {b} percent of them are new. How many {it} "
        "are new?",
        "Of {a} {it}, {b} percent are broken. How many {it} are broken?",
        "A price of {a} dollars goes down by {b} percent. By how many "
        "dollars does it go down?"]).format(it=it, h=h, **v)


def _frame_sub(rng, v):
    it = _items(rng)
    n = rng.choice(NAMES)
    unit = rng.choice(["km", "metres", "pages", "dollars", "litres",
                       "points", "steps", "miles"])
    return rng.choice([
        "{n} has {a} {it} and gives away {b}. How many {it} are left?",
        "{n} needs {a} {u} and already has {b}. How many more {u} does "
        "{n} need?",
        "A trip is {a} {u} long and {b} {u} are done. How many {u} are "
        "still to go?",
        "{n} has {a} {u} and uses {b} {u}. How many {u} are left?",
        "There were {a} {it} and {b} were taken. How many {it} remain?",
        "The goal is {a} {u} and {n} has {b} {u} so far. How many {u} "
        "are missing?"]).format(it=it, n=n, u=unit, **v)


# structure (as in gen_data.CALC_SINGLE) -> frame
SINGLE = {
    "{a} * {b} - {c}": _frame_mul_sub,
    "{a} * {b} + {c}": _frame_mul_add,
    "({a} + {b}) * {c}": _frame_sum_mul,
    "{a} * {b}": _frame_mul,
    "{a} + {b} + {c}": _frame_sum3,
    "{a} - {b} - {c}": _frame_sub2,
    "{a} / {b}": _frame_div,
    "{a} * {b} / 100": _frame_pct,
    "{a} - {b}": _frame_sub,
}


def calc_single(rng, struct, v):
    return SINGLE[struct](rng, v)


def calc_chain(rng, kind, v):
    it = _items(rng)
    h = rng.choice(HOLDERS)
    if kind == "sum2":
        co1, co2 = rng.sample(CONTAINERS, 2)
        return rng.choice([
            "{h} sells {a} {it} at {b} dollars each and {c} {it2} at {d} "
            "dollars each. How many dollars does it take in?",
            "{h} has {a} {co1} of {b} {it} and {c} {co2} of {d} {it}. How "
            "many {it} are there in all?",
            "There are {a} {co1} with {b} {it} each and {c} {co2} with {d} "
            "{it} each. How many {it} is that in total?"]).format(
            h=h, it=it, it2=rng.choice(ITEMS), co1=co1, co2=co2, **v)
    if kind == "prod3":
        co1, co2 = rng.sample(CONTAINERS, 2)
        return rng.choice([
            "{h} has {a} {co1} with {b} {co2} each, and each of the {co2} "
            "holds {c} {it}. How many {it} are there?",
            "There are {a} {co1}. Each holds {b} {co2} and each of those "
            "has {c} {it}. How many {it} in all?",
            "{a} {co1} hold {b} {co2} each, with {c} {it} in every one of "
            "the {co2}. How many {it} is that?"]).format(
            h=h, it=it, co1=co1, co2=co2, **v)
    p1, p2 = rng.choice(PERIODS)
    mk = rng.choice(MAKES)
    rem = rng.choice(REMOVALS)
    return rng.choice([
        "{h} {mk} {a} {it} a {p1} for {b} {p2}, and {c} of them {rem}. "
        "How many {it} are left?",
        "{h} {mk} {a} {it} each {p1} for {b} {p2}. Then {c} {it} {rem}. "
        "How many {it} remain?",
        "Over {b} {p2}, {h2} {mk} {a} {it} every {p1}, and {c} {rem}. How "
        "many {it} are still there?"]).format(
        h=h, h2=h[0].lower() + h[1:] if h.startswith("A ") else h, mk=mk,
        it=it, p1=p1, p2=p2, rem=rem, **v)


# ---- knowledge-base questions ------------------------------------------------

# attribute -> phrasings with {e}; combined with OPENERS for more.
KB_PHRASES = {
    "population": ["the population of {e}", "how many people live in {e}",
                   "the number of people in {e}",
                   "how many inhabitants {e} has",
                   "the head count of {e}", "how big the population of {e} "
                   "is", "how many people call {e} home"],
    "founded": ["when {e} was founded", "the year {e} was founded",
                "the founding year of {e}", "when the city {e} was set up",
                "in which year {e} was founded", "how old the city {e} is "
                "by its founding year"],
    "mayor": ["the mayor of {e}", "who the mayor of {e} is",
              "who leads {e} as mayor", "the name of the mayor of {e}",
              "who is in charge of {e} as mayor"],
    "region": ["the region of {e}", "which region {e} is in",
               "the region that {e} belongs to", "where {e} lies, by region",
               "in what region {e} can be found"],
    "profession": ["the profession of {e}", "what {e} does for a living",
                   "the job of {e}", "what {e} works as",
                   "the occupation of {e}"],
    "born": ["the year {e} was born", "when {e} was born",
             "the year of birth of {e}", "in which year {e} was born"],
    "birthplace": ["where {e} was born", "the city {e} was born in",
                   "the place of birth of {e}", "the home city of {e}",
                   "which city {e} comes from"],
    "height": ["how tall {e} is", "the height of {e} in cm",
               "how many cm tall {e} is", "the body height of {e}"],
    "price": ["the price of the {e}", "how much the {e} costs",
              "what the {e} costs in dollars", "the cost of the {e}",
              "how many dollars the {e} costs"],
    "weight": ["the weight of the {e}", "how much the {e} weighs",
               "how heavy the {e} is in grams", "the mass of the {e} in "
               "grams", "how many grams the {e} weighs"],
    "released": ["when the {e} was released", "the release year of the "
                 "{e}", "when the {e} came out", "the year the {e} came on "
                 "the market", "when the {e} was launched"],
    "maker": ["who makes the {e}", "the maker of the {e}",
              "which company makes the {e}", "the manufacturer of the {e}",
              "the brand behind the {e}", "who builds the {e}"],
    "kind": ["what kind of product the {e} is", "what the {e} is",
             "what type of product the {e} is", "the product type of the "
             "{e}", "what category the {e} is in"],
}

OPENERS = ["Tell me {p}.", "I want to know {p}.", "Can you find {p}?",
           "Please look up {p}.", "Do you know {p}?", "Find out {p}.",
           "I need {p}.", "Look up {p}.", "Could you tell me {p}?",
           "Quick question: {p}?"]


def kb_question(rng, attr, name):
    p = rng.choice(KB_PHRASES[attr]).format(e=name)
    return rng.choice(OPENERS).format(p=p)


# ---- invented tools made up from parts -----------------------------------------

# (attribute words, unit text of the output or "", output range); nothing
# here names what a held-out tool does.
ATTRS = [
    ("humidity", "percent", (10, 99)), ("rainfall", "mm", (0, 300)),
    ("snow depth", "cm", (0, 250)), ("air pressure", "hPa", (950, 1050)),
    ("noise level", "dB", (30, 110)), ("water temperature", "degrees",
                                       (2, 30)),
    ("air quality index", "", (1, 300)), ("pollen count", "", (0, 900)),
    ("bus delay", "minutes", (0, 45)), ("parking fee", "cents",
                                        (50, 900)),
    ("crime rate", "per 1000", (1, 90)), ("ticket price", "dollars",
                                          (5, 250)),
    ("rent", "dollars a month", (400, 3000)), ("bike count", "",
                                              (10, 5000)),
    ("river level", "cm", (20, 800)), ("sunshine hours", "hours",
                                       (0, 14)),
    ("queue length", "people", (0, 80)), ("visitor count", "",
                                          (0, 20000)),
    ("shoe size", "", (34, 48)), ("age", "years", (18, 95)),
    ("salary", "dollars a year", (20000, 150000)), ("heart rate",
                                                   "beats per minute",
                                                   (45, 180)),
    ("favourite colour", None, ["red", "green", "blue", "grey", "amber",
                                "teal"]),
    ("star sign", None, ["Aries", "Leo", "Virgo", "Libra", "Pisces"]),
    ("credit score", "", (300, 850)), ("sleep time", "hours", (4, 10)),
    ("battery level", "percent", (0, 100)), ("stock level", "units",
                                             (0, 5000)),
    ("delivery time", "days", (1, 30)), ("rating", "stars", (1, 5)),
    ("warranty", "months", (6, 60)), ("energy use", "kWh", (1, 900)),
    ("serial number", None, "serial"), ("colour code", None, "hex"),
    ("room count", "rooms", (1, 400)), ("floor count", "floors",
                                        (1, 90)),
    ("menu price", "dollars", (3, 90)), ("waiting time", "minutes",
                                         (0, 120)),
    ("ozone level", "", (10, 200)), ("uv index", "", (0, 11)),
    ("traffic level", "percent", (0, 100)), ("water use", "litres",
                                             (50, 900)),
    ("member count", "members", (3, 9000)), ("goal count", "goals",
                                            (0, 60)),
    ("lap time", "seconds", (50, 200)), ("tax rate", "percent", (0, 40)),
    ("dog count", "dogs", (0, 5000)), ("tree count", "trees",
                                       (10, 90000)),
]

# entity kinds: (role names, article for the description, value source)
ENTITIES = [
    (["city", "place", "town", "location"], "a city", "city"),
    (["person", "name", "who", "member"], "a person", "person"),
    (["product", "item", "model"], "a product", "product"),
    (["code", "id", "ref"], "a code", "code"),
    (["venue", "place_name", "site"], "a place", "venue"),
]

VENUE_HEADS = ["Hall", "Park", "Arena", "Market", "Garden", "Tower",
               "Square", "Gallery", "Bridge", "Station"]

DESC_FORMS = ["Returns the {attr} of {ent}.",
              "Returns the current {attr} for {ent}.",
              "Gives the {attr} of {ent}.",
              "Looks up the {attr} of {ent}.",
              "Reports the {attr} for {ent}, today.",
              "Finds the {attr} of {ent} in the records."]

Q_FORMS = ["What is the {attr} of {v}?", "What is the {attr} in {v}?",
           "Tell me the {attr} of {v}.", "What is the {attr} for {v} now?",
           "Find the {attr} of {v}.", "How high is the {attr} in {v}?",
           "Can you get the {attr} for {v}?", "Look up the {attr} of {v}.",
           "What {attr} does {v} have?", "I need the {attr} of {v}."]


def _syl_name(rng):
    n = "".join(rng.choice(ct.SYL) for _ in range(rng.randint(2, 3)))
    if rng.random() < 0.5:
        n += "_" + "".join(rng.choice(ct.SYL)
                           for _ in range(rng.randint(1, 2)))
    return n


def _attr_name(rng, attr):
    w = attr.replace(" ", "_")
    return rng.choice([w, "get_" + w, w + "_lookup", w + "_now",
                       "find_" + w, w.split("_")[-1] + "_of",
                       "check_" + w, w + "_api"])


def made_up_concept(rng, ctx):
    """A concept in the form customtools' Tool takes, with one name,
    description and argument name drawn already."""
    attr, unit, rng_out = rng.choice(ATTRS)
    roles, ent_text, src = rng.choice(ENTITIES)
    arg = rng.choice(roles) if rng.random() < 0.8 else \
        "".join(rng.choice(ct.SYL) for _ in range(2))

    def value(r, c):
        if src == "city":
            return r.choice(c["cities"])
        if src == "person":
            return r.choice(c["people"])
        if src == "product":
            return "%s %s%d" % (r.choice(ct.WORDS).capitalize(),
                                r.choice("ABKLMRTXZ"), r.randint(10, 99))
        if src == "code":
            return "%s-%d" % ("".join(r.choice("ABCDEFGHKLMNPRSTVXZ")
                                      for _ in range(2)),
                              r.randint(100, 9999))
        return "%s %s" % (r.choice(ct.WORDS).capitalize(),
                          r.choice(VENUE_HEADS))

    def out(h, v):
        if unit is None:
            if rng_out == "serial":
                return "SN-%06d" % (h % 1000000)
            if rng_out == "hex":
                return "#%06x" % (h * 2654435761 % 16777216)
            return rng_out[h % len(rng_out)]
        lo, hi = rng_out
        n = lo + h % (hi - lo + 1)
        return str(n)

    name = _attr_name(rng, attr) if rng.random() < 0.5 else _syl_name(rng)
    desc = rng.choice(DESC_FORMS).format(attr=attr, ent=ent_text)
    if unit:
        desc = desc[:-1] + ", in %s." % unit
    concept = dict(key="made-up:" + attr + ":" + src, names=[name],
                   descs=[desc], args=[("v", [arg], "string")],
                   values={"v": value},
                   q=[rng.choice(Q_FORMS).replace("{attr}", attr)],
                   out=out)
    return concept


# ---- compositions ----------------------------------------------------------------

def _noun_phrases(attr):
    return [p for p in KB_PHRASES[attr] if p.startswith("the ")]


SUM_FORMS = ["What is {pa} plus {pb}?", "Add {pa} and {pb}.",
             "What do you get when you add {pa} to {pb}?",
             "Tell me the sum of {pa} and {pb}.",
             "What are {pa} and {pb} added together?",
             "Work out {pa} plus {pb}."]

DIFF_FORMS = ["How much bigger is {pa} than {pb}?",
              "What is {pa} minus {pb}?", "Subtract {pb} from {pa}.",
              "What is the gap between {pa} and {pb}?",
              "By how much does {pa} exceed {pb}?",
              "How far is {pb} below {pa}?"]


def compose_two(rng, attr, op, a, b):
    """Two lookups then calc: a's value first (the larger for a
    difference)."""
    ph = _noun_phrases(attr)
    pa = rng.choice(ph).format(e=a)
    pb = rng.choice(ph).format(e=b)
    form = rng.choice(SUM_FORMS if op == "sum" else DIFF_FORMS)
    text = form.format(pa=pa, pb=pb)
    return text[0].upper() + text[1:]


def compose_one(rng, op, a, n):
    if op == "mul":
        forms = ["What do {n} of the {a} cost?",
                 "Someone buys {n} of the {a}. How many dollars is that?",
                 "Find the price of {n} units of the {a}.",
                 "What is the cost of {n} pieces of the {a} in dollars?"]
    elif op == "age":
        forms = ["How many years old was {a} in {n}?",
                 "In {n}, how old was {a}?",
                 "What was the age of {a} in the year {n}?",
                 "How old did {a} turn in {n}?"]
    else:
        forms = ["{n} people move to {a}. How many people live there "
                 "then?",
                 "The population of {a} grows by {n}. What is it now?",
                 "If {a} gains {n} people, what is its population?",
                 "How many people live in {a} once {n} more arrive?"]
    return rng.choice(forms).format(a=a, n=n)


BIRTHPLACE = ["the city where {a} was born", "the birthplace of {a}",
              "the home city of {a}", "the city {a} comes from",
              "the place {a} was born in"]


def chained_question(rng, attr, a):
    place = rng.choice(BIRTHPLACE).format(a=a)
    if attr == "population":
        forms = ["What is the population of {p}?",
                 "How many people live in {p}?",
                 "Tell me the number of people in {p}.",
                 "How many inhabitants are there in {p}?"]
    else:
        forms = ["Who is the mayor of {p}?", "Tell me the mayor of {p}.",
                 "Who leads {p} as mayor?", "Name the mayor of {p}."]
    return rng.choice(forms).format(p=place)


# ---- tool-free sums ----------------------------------------------------------------

SUM_MANNERS = ["without a tool", "in your head", "by hand",
               "without a calculator", "without calc", "with no calculator",
               "on paper", "without any tools", "using only your head",
               "step by step, without tools", "the old way, by hand"]

SUM_VERBS = [("Add", "l"), ("Sum up", "l"), ("Work out", "e"),
             ("Find", "e"), ("Total", "l"), ("Compute the sum", "e"),
             ("Add up", "l"), ("Find the sum of", "l")]


def sums_question(rng, e, lst):
    verb, which = rng.choice(SUM_VERBS)
    x = e if which == "e" else lst
    if verb == "Compute the sum":
        x = "of " + e if rng.random() < 0.5 else "of " + lst
    manner = rng.choice(SUM_MANNERS)
    if rng.random() < 0.5:
        return "%s %s %s." % (verb, x, manner)
    text = "%s, %s %s." % (manner, verb[0].lower() + verb[1:], x)
    if rng.random() < 0.3:
        text = "What is %s, %s?" % (e, manner)
    return text[0].upper() + text[1:]
