"""The bundled knowledge base: invented cities, people and products.

Every fact is made up from a seed, so the model cannot know any of them
without kb_search.  The facts are generated here and written to
models/kb/{cities,people,products}.txt as one paragraph per entity; the
data generator rebuilds the same facts from the same seed (and checks them
against the files) to write questions and expected answers.
"""

import random

KB_SEED = 4242
N_CITIES = 160
N_PEOPLE = 160
N_PRODUCTS = 160

_ONSETS = ["b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m",
           "n", "p", "pr", "r", "s", "st", "t", "tr", "v", "z", "th", "sh"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "y"]
_CODAS = ["", "", "", "n", "r", "l", "s", "th", "m", "nd", "rk", "x"]

REGIONS = [
    "Ostrane", "Kelvath", "Marrow Coast", "Dunhollow", "Serrin Plains",
    "Ashvale", "Tormund", "Lirith", "Quenmoor", "Vesk Highlands",
    "Pallow", "Brisk Fen", "Corrath", "Eldmere", "Sundrel",
]
PROFESSIONS = [
    "painter", "chemist", "sculptor", "pilot", "botanist", "architect",
    "composer", "engineer", "novelist", "astronomer", "surgeon",
    "cartographer", "glassblower", "linguist", "mathematician",
    "photographer", "violinist", "geologist", "chef", "historian",
]
KINDS = [
    "kettle", "lamp", "bicycle", "camera", "backpack", "telescope",
    "blender", "drone", "guitar", "tent", "printer", "scooter",
    "speaker", "watch", "toaster", "drill", "kayak", "heater",
]
MAKERS = [
    "Brightwell", "Orvane", "Kestrel Works", "Tamsin & Rook", "Ulmgard",
    "Pellucid", "Northfold", "Varrow", "Quillon", "Hestia Labs",
    "Dovecote", "Ironmere", "Solvay Brothers", "Marlin Hale", "Zephyrine",
]


class Facts:
    """All entities: cities, people and products (lists of dicts)."""

    def __init__(self, cities, people, products):
        self.cities = cities
        self.people = people
        self.products = products


def _word(rng, syllables):
    w = ""
    for i in range(syllables):
        w += rng.choice(_ONSETS) + rng.choice(_VOWELS)
        if i == syllables - 1:
            w += rng.choice(_CODAS)
    return w.capitalize()


def _unique_words(rng, n, used, lo, hi):
    out = []
    while len(out) < n:
        w = _word(rng, rng.randint(lo, hi))
        if len(w) < 4 or len(w) > 10 or w.lower() in used:
            continue
        used.add(w.lower())
        out.append(w)
    return out


def make_facts(seed=KB_SEED):
    """Builds every entity from seed (the same seed, the same facts)."""
    rng = random.Random(seed)
    used = set(w.lower() for w in REGIONS + PROFESSIONS + KINDS)
    for m in MAKERS:
        used.update(x.lower() for x in m.replace("&", " ").split())
    city_names = _unique_words(rng, N_CITIES, used, 2, 3)
    firsts = _unique_words(rng, 60, used, 2, 2)
    lasts = _unique_words(rng, 80, used, 1, 2)
    full = set()

    def person_name():
        while True:
            n = "%s %s" % (rng.choice(firsts), rng.choice(lasts))
            if n not in full:
                full.add(n)
                return n

    brands = _unique_words(rng, 40, used, 2, 2)
    cities = []
    for name in city_names:
        cities.append({
            "name": name,
            "region": rng.choice(REGIONS),
            "population": rng.randint(2000, 990000),
            "founded": rng.randint(1050, 1950),
            "mayor": person_name(),
        })
    people = []
    for _ in range(N_PEOPLE):
        people.append({
            "name": person_name(),
            "profession": rng.choice(PROFESSIONS),
            "born": rng.randint(1800, 1995),
            "birthplace": rng.choice(city_names),
            "height": rng.randint(150, 205),
        })
    products = []
    pnames = set()
    while len(products) < N_PRODUCTS:
        code = "%s%d" % (rng.choice("ABCDEFGHKLMPRSTVXZ"),
                         rng.randint(2, 99))
        name = "%s %s" % (rng.choice(brands), code)
        if name in pnames:
            continue
        pnames.add(name)
        products.append({
            "name": name,
            "kind": rng.choice(KINDS),
            "maker": rng.choice(MAKERS),
            "price": rng.randint(5, 2500),
            "weight": rng.randint(100, 25000),
            "released": rng.randint(1990, 2024),
        })
    return Facts(cities, people, products)


def city_text(c):
    return ("{name} is a city in the region of {region}. {name} has a "
            "population of {population} people and was founded in "
            "{founded}. The mayor of {name} is {mayor}.".format(**c))


def _article(word):
    return "an" if word[0] in "aeiou" else "a"


def person_text(p):
    return ("{name} is {article} {profession} who was born in {born} in the city "
            "of {birthplace}. {name} is {height} cm tall.".format(
                article=_article(p["profession"]), **p))


def product_text(p):
    return ("The {name} is {article} {kind} made by {maker}. The {name} costs "
            "{price} dollars, weighs {weight} grams and was released in "
            "{released}.".format(article=_article(p["kind"]), **p))


def kb_files(facts):
    """The knowledge-base files: {file name: text}."""
    def para(items, fn):
        return "\n\n".join(fn(x) for x in items) + "\n"
    return {
        "cities.txt": para(facts.cities, city_text),
        "people.txt": para(facts.people, person_text),
        "products.txt": para(facts.products, product_text),
    }
