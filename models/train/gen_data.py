#!/usr/bin/python3
"""gen_data.py: synthetic ReAct episodes for the bundled model.

    gen_data.py --tools BIN --out DIR [--seed N] [--train N] [--valid N]
                [--test-per-family N] [--write-kb] [--write-eval DIR]

Writes DIR/{train,valid,test}.jsonl: one episode a line,
{"id", "family", "question", "answer", "segments": [[text, trained]...]},
where the segments concatenated are the exact transcript (DESIGN.md
"ReAct transcript format v1"): the prompt, then what the model writes
(trained = 1) and what the runtime appends (trained = 0: observations
after their "Observation:", which the model writes because it is the
stop string, and the "Thought: Wait," that budget forcing inserts).  An episode ends with
the final answer line; the model is also taught to end its text there
(the end-of-text token after it is trained).

Observations of calc and kb_search come from the real tools, through
tests/tools/model-tools (BIN), which builds the tool registry exactly as
the daemon does; the {{tools}} lines of the built-ins come from it too.
Invented tools' outputs come from customtools.py (the held-out ones from
their Lua versions, through the same program).

--write-kb rewrites models/kb/*.txt from kbgen.py (otherwise they must
already hold its facts); --write-eval DIR writes the held-out test split
as DIR/<family>.jsonl ({id, family, input, expected[, tools]}) and the
invented tools it needs as DIR/tools/*.lua (models/eval is the committed
copy).  Everything is deterministic from the seed.

Families: calc (word problems, 1-3 calc calls), kb (fact questions),
compose (two lookups, then calc; or a lookup that feeds another), sums
(tool-free column addition on a scratchpad), custom (an invented tool
chosen from its description among others), and a share of "Wait"
self-checks in calc, kb and sums episodes.  The test split uses question
templates, entities and invented tools that train and valid never show.
"""

import argparse
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import customtools as ct  # noqa: E402
import kbgen  # noqa: E402
import phrasing  # noqa: E402
import react  # noqa: E402
from toolrun import Tools  # noqa: E402

BUILTINS = ["calc", "file_read", "http_get", "kb_search"]
FINAL_THOUGHT = "I know the answer"


# ---- episodes --------------------------------------------------------------

class Episode:
    """A transcript being written: segments of (text, trained)."""

    def __init__(self, ctx, tool_lines, question, custom=None):
        self.ctx = ctx
        self.question = question
        self.custom = {t.name: t for t in (custom or [])}
        self.names = sorted(line.split(":", 1)[0] for line in tool_lines)
        prompt = react.render_prompt(ctx.template, tool_lines, question)
        self.segs = [[prompt, 0]]
        self.answer = None

    def model(self, text):
        self.segs.append([text, 1])

    def fixed(self, text):
        self.segs.append([text, 0])

    def thought(self, text):
        self.model("Thought: %s\n" % text)

    def act(self, name, args):
        """The model calls a tool; the observation is appended.  Returns
        (text, is_error) of the tool."""
        self.model("Action: %s\nAction Input: %s\n"
                   % (name, react.compact(args)))
        if name in self.custom:
            text, err = self.custom[name].output(args), False
        else:
            text, err = self.ctx.tools.call(name, args)
        # The model learns to write "Observation:" (the runtime's stop
        # string) but not what follows, which the tool supplies.
        self.model("Observation:")
        self.fixed(" %s\n" % react.render_observation(text, err))
        return text, err

    def final(self, answer):
        self.thought(FINAL_THOUGHT)
        self.model("Final Answer: %s\n" % answer)
        self.answer = str(answer)

    def wait(self, rest):
        """Budget forcing: the runtime appends "Thought: Wait,", the model
        goes on with rest."""
        self.fixed("Thought: Wait,")
        self.model(" %s\n" % rest)

    def record(self, eid, family, split):
        return {"id": eid, "family": family, "split": split,
                "question": self.question, "answer": self.answer,
                "tools": self.names, "segments": self.segs}


class Ctx:
    def __init__(self, tools, facts, template, builtin_lines):
        self.tools = tools
        self.facts = facts
        self.template = template
        self.builtin_lines = builtin_lines
        self.cities = [c["name"] for c in facts.cities]
        self.people = [p["name"] for p in facts.people]

    def calc(self, expr):
        """Runs calc; the result text (an error is a generator bug)."""
        text, err = self.tools.call("calc", {"expression": expr})
        if err:
            raise RuntimeError("calc %r: %s" % (expr, text))
        return text


# The built-in tools a prompt lists.  The daemon's default configuration
# offers calc and kb_search (http_get and file_read are off until
# configured); a configured one may offer all four, or fewer.
BUILTIN_SETS = [
    (0.40, ["calc", "kb_search"]),
    (0.40, BUILTINS),
    (0.10, ["calc", "http_get", "kb_search"]),
    (0.10, ["calc", "file_read", "kb_search"]),
]
EVAL_BUILTINS = ["calc", "kb_search"]


def builtin_names(rng):
    return rng.choices([s[1] for s in BUILTIN_SETS],
                       weights=[s[0] for s in BUILTIN_SETS])[0]


def default_lines(ctx, rng):
    return [ctx.builtin_lines[n] for n in builtin_names(rng)]


# ---- calc word problems ----------------------------------------------------

def _n(rng, lo, hi):
    return rng.randint(lo, hi)


# (structure, needs, templates): needs builds the values; the expression
# is structure.format(**values).  Templates marked "T:" are test-only.
CALC_SINGLE = [
    ("{a} * {b} - {c}", lambda r: dict(a=_n(r, 3, 99), b=_n(r, 3, 99),
                                       c=_n(r, 1, 9)),
     ["A crate holds {a} boxes of {b} apples and {c} apples are rotten. "
      "How many good apples are there?",
      "There are {a} shelves with {b} books each. {c} books are taken "
      "away. How many books are left?",
      "A school has {a} classes of {b} pupils and {c} pupils are ill "
      "today. How many pupils are at school?",
      "A baker makes {a} trays of {b} cookies and drops {c} cookies. How "
      "many cookies are left?",
      "T:A truck carries {a} sacks of {b} potatoes each, and {c} potatoes "
      "go bad on the way. How many potatoes arrive in good shape?",
      "T:An orchard has {a} rows of {b} trees and a storm knocks down {c} "
      "trees. How many trees still stand?"]),
    ("{a} * {b} + {c}", lambda r: dict(a=_n(r, 3, 99), b=_n(r, 3, 99),
                                       c=_n(r, 1, 999)),
     ["A hall has {a} rows of {b} seats plus {c} extra chairs. How many "
      "seats are there in all?",
      "A farmer has {a} bags of {b} carrots and {c} loose carrots. How "
      "many carrots does the farmer have?",
      "Tom saves {a} dollars a week for {b} weeks and already had {c} "
      "dollars. How many dollars does Tom have now?",
      "A library gets {a} boxes of {b} books and {c} single books. How "
      "many books does it get?",
      "T:A stadium has {a} sections of {b} seats and {c} standing places. "
      "How many fans fit in the stadium?"]),
    ("({a} + {b}) * {c}", lambda r: dict(a=_n(r, 2, 999), b=_n(r, 2, 999),
                                         c=_n(r, 2, 99)),
     ["A shop sells {a} red and {b} blue pens a day. How many pens does "
      "it sell in {c} days?",
      "Each of {c} teams has {a} boys and {b} girls. How many children "
      "are there?",
      "A ticket costs {a} dollars plus a fee of {b} dollars. What do {c} "
      "tickets cost?",
      "T:A class buys {a} pencils and {b} erasers each month. How many "
      "items does it buy in {c} months?"]),
    ("{a} * {b}", lambda r: dict(a=_n(r, 11, 9999), b=_n(r, 3, 999)),
     ["A box holds {b} nails. How many nails are in {a} boxes?",
      "A train travels {a} km every day. How far does it go in {b} days?",
      "One ticket costs {a} dollars. How much do {b} tickets cost?",
      "Each of {a} workers earns {b} dollars. How much do they earn "
      "together?",
      "T:A printer prints {a} pages an hour. How many pages does it print "
      "in {b} hours?"]),
    ("{a} + {b} + {c}", lambda r: dict(a=_n(r, 10, 99999),
                                       b=_n(r, 10, 99999),
                                       c=_n(r, 10, 99999)),
     ["A town has {a} men, {b} women and {c} children. How many people "
      "live there?",
      "A library has {a} novels, {b} poems and {c} maps. How many items "
      "does it hold?",
      "Sara walked {a} steps on Monday, {b} on Tuesday and {c} on "
      "Wednesday. How many steps did she walk in all?",
      "T:A museum had {a} visitors in May, {b} in June and {c} in July. "
      "How many visitors came in the three months?"]),
    ("{a} - {b} - {c}", lambda r: dict(a=_n(r, 5000, 99999),
                                       b=_n(r, 10, 2400),
                                       c=_n(r, 10, 2400)),
     ["A tank holds {a} litres. {b} litres are used on Monday and {c} "
      "on Tuesday. How many litres are left?",
      "Anna has {a} dollars. She spends {b} dollars on a bike and {c} "
      "dollars on a coat. How much money does she have left?",
      "A warehouse stores {a} boxes. It ships {b} boxes and then {c} "
      "more. How many boxes remain?",
      "T:A field has {a} tulips. Deer eat {b} of them and {c} are picked. "
      "How many tulips are left?"]),
    ("{a} / {b}", None,
     ["{a} candies are shared equally among {b} children. How many "
      "candies does each child get?",
      "A rope {a} cm long is cut into {b} equal pieces. How long is each "
      "piece in cm?",
      "{a} dollars are split evenly between {b} friends. How many dollars "
      "does each friend get?",
      "T:A farmer puts {a} eggs into cartons of {b} eggs. How many cartons "
      "does he fill?"]),
    ("{a} * {b} / 100", lambda r: dict(a=_n(r, 20, 9999),
                                       b=r.choice([5, 10, 12, 15, 20, 25,
                                                   30, 40, 50, 75])),
     ["What is {b} percent of {a}?",
      "A coat costs {a} dollars and is {b} percent off. How many dollars "
      "is the discount?",
      "{b} percent of the {a} people in a village are children. How many "
      "children are there?",
      "T:A test has {a} points and Mia scores {b} percent of them. How "
      "many points does she score?"]),
    ("{a} - {b}", lambda r: dict(a=_n(r, 1000, 99999), b=_n(r, 10, 999)),
     ["A book has {a} pages and Ben has read {b}. How many pages are "
      "left?",
      "A car costs {a} dollars and Lea has {b} dollars. How many more "
      "dollars does she need?",
      "A hill is {a} metres high and a climber is at {b} metres. How many "
      "metres are left to the top?",
      "T:A ship must sail {a} km and has already sailed {b} km. How far "
      "does it still have to go?"]),
]

DIRECT_Q = ["What is {e}?", "Calculate {e}.", "Compute {e}.",
            "What is the value of {e}?", "T:Work out {e} with the calculator.",
            "T:Please evaluate {e}."]

# Chains: two or three calls, each using the previous results.
CALC_CHAIN = [
    # three calls: a*b, c*d, r1 + r2
    ("sum2", lambda r: dict(a=_n(r, 2, 99), b=_n(r, 2, 999),
                            c=_n(r, 2, 99), d=_n(r, 2, 999)),
     ["A shop sells {a} pens at {b} dollars each and {c} books at {d} "
      "dollars each. How much money does the shop take in?",
      "{a} buses carry {b} people each and {c} trains carry {d} people "
      "each. How many people travel in total?",
      "A farm has {a} pens of {b} hens and {c} pens of {d} ducks. How many "
      "birds live on the farm?",
      "T:A bakery bakes {a} trays of {b} rolls in the morning and {c} "
      "trays of {d} rolls in the evening. How many rolls does it bake?"]),
    # two calls: a*b, r1*c
    ("prod3", lambda r: dict(a=_n(r, 2, 99), b=_n(r, 2, 99),
                             c=_n(r, 2, 99)),
     ["A farm has {a} rows of {b} trees and each tree gives {c} apples. "
      "How many apples does the farm get?",
      "A building has {a} floors with {b} rooms each, and each room has "
      "{c} lamps. How many lamps are there?",
      "{a} boxes hold {b} packs each and a pack has {c} cards. How many "
      "cards are there?",
      "T:A library has {a} shelves with {b} books each, and each book has "
      "{c} pages. How many pages are there?"]),
    # two calls: a*b, r1 - c
    ("prodsub", lambda r: dict(a=_n(r, 11, 999), b=_n(r, 11, 999),
                               c=_n(r, 1, 9999)),
     ["A factory makes {a} chairs a day for {b} days and sells {c} of "
      "them. How many chairs are left?",
      "A club has {a} members who pay {b} dollars each, and it spends {c} "
      "dollars. How much money is left?",
      "T:A mine digs {a} tonnes a week for {b} weeks and ships {c} "
      "tonnes. How many tonnes are still at the mine?"]),
]


def _phrased(ctx, rng, split):
    """Whether a train or valid question is worded from parts
    (phrasing.py) instead of its fixed template; never a test one."""
    return split != "test" and rng.random() < ctx.phrased


def _split_templates(templates, split):
    if split == "test":
        return [t[2:] for t in templates if t.startswith("T:")]
    return [t for t in templates if not t.startswith("T:")]


def _div_values(rng):
    b = _n(rng, 2, 99)
    q = _n(rng, 2, 999)
    return dict(a=b * q, b=b)


def _direct_expr(rng):
    kind = rng.randint(0, 5)
    a, b, c = _n(rng, 2, 9999), _n(rng, 2, 999), _n(rng, 2, 99)
    if kind == 0:
        return "%d * %d" % (a, b)
    if kind == 1:
        return "%d + %d * %d" % (a, b, c)
    if kind == 2:
        return "(%d - %d) * %d" % (a, b, c)
    if kind == 3:
        return "%d * %d - %d" % (b, c, a)
    if kind == 4:
        return "%d / %d" % (b * c, c)
    return "%d + %d - %d" % (a, b, c)


def gen_calc(ctx, rng, split, default=True):
    """A calc word problem: returns (episode, expected answer)."""
    tool_lines = default_lines(ctx, rng)
    r = rng.random()
    if r < 0.18:
        expr = _direct_expr(rng)
        q = rng.choice(_split_templates(DIRECT_Q, split)).format(e=expr)
        ep = Episode(ctx, tool_lines, q)
        ep.thought("I need to calculate %s." % expr)
        out, _ = ep.act("calc", {"expression": expr})
        ep.final(out)
        return ep
    if r < 0.40:
        kind, vals, templates = rng.choice(CALC_CHAIN)
        v = vals(rng)
        q = rng.choice(_split_templates(templates, split)).format(**v)
        if _phrased(ctx, rng, split):
            q = phrasing.calc_chain(rng, kind, v)
        ep = Episode(ctx, tool_lines, q)
        ep.thought("I will calculate this step by step.")
        if kind == "sum2":
            r1, _ = ep.act("calc", {"expression": "%d * %d" % (v["a"],
                                                             v["b"])})
            ep.thought("Next I calculate the second part.")
            r2, _ = ep.act("calc", {"expression": "%d * %d" % (v["c"],
                                                             v["d"])})
            ep.thought("Now I add the two results.")
            out, _ = ep.act("calc", {"expression": "%s + %s" % (r1, r2)})
        elif kind == "prod3":
            r1, _ = ep.act("calc", {"expression": "%d * %d" % (v["a"],
                                                             v["b"])})
            ep.thought("Now I multiply that result by %d." % v["c"])
            out, _ = ep.act("calc", {"expression": "%s * %d" % (r1,
                                                              v["c"])})
        else:
            r1, _ = ep.act("calc", {"expression": "%d * %d" % (v["a"],
                                                             v["b"])})
            if int(r1) <= v["c"]:
                return None
            ep.thought("Now I subtract %d from that result." % v["c"])
            out, _ = ep.act("calc", {"expression": "%s - %d" % (r1,
                                                              v["c"])})
        ep.final(out)
        return ep
    struct, vals, templates = rng.choice(CALC_SINGLE)
    v = _div_values(rng) if vals is None else vals(rng)
    expr = struct.format(**v)
    q = rng.choice(_split_templates(templates, split)).format(**v)
    if _phrased(ctx, rng, split):
        q = phrasing.calc_single(rng, struct, v)
    ep = Episode(ctx, tool_lines, q)
    ep.thought("I need to calculate %s." % expr)
    out, _ = ep.act("calc", {"expression": expr})
    if out.startswith("-"):
        return None
    if rng.random() < ctx.wait_share:
        alt = _swap_first_product(expr)
        if alt is not None:
            ep.thought(FINAL_THOUGHT)
            ep.wait("let me check it another way with calc.")
            out2, _ = ep.act("calc", {"expression": alt})
            assert out2 == out, (expr, alt, out, out2)
    ep.final(out)
    return ep


def _swap_first_product(expr):
    """The same expression with its first two operands of * or + swapped
    (a different action with the same result)."""
    parts = expr.split(" ")
    for i in range(1, len(parts) - 1):
        if parts[i] in ("*", "+") and parts[i - 1].isdigit() and \
                parts[i + 1].isdigit() and parts[i - 1] != parts[i + 1]:
            if i + 2 < len(parts) and parts[i + 2] in ("*", "/") and \
                    parts[i] == "+":
                continue
            if i >= 2 and parts[i - 2] in ("*", "/", "-"):
                continue
            p = list(parts)
            p[i - 1], p[i + 1] = p[i + 1], p[i - 1]
            return " ".join(p)
    return None


# ---- knowledge-base facts ----------------------------------------------------

# attribute: (entity kind, query word, thought noun, answer key,
#             train questions, test questions)
KB_ATTRS = {
    "population": ("city", "population", "the population of {e}",
                   "population",
                   ["What is the population of {e}?",
                    "How many people live in {e}?",
                    "How many inhabitants does {e} have?"],
                   ["What is the number of people living in {e}?",
                    "Tell me how many residents {e} has."]),
    "founded": ("city", "founded", "when {e} was founded", "founded",
                ["When was {e} founded?",
                 "In which year was {e} founded?",
                 "What year was {e} founded in?"],
                ["In what year did the city of {e} get founded?"]),
    "mayor": ("city", "mayor", "the mayor of {e}", "mayor",
              ["Who is the mayor of {e}?",
               "Who is mayor of the city of {e}?"],
              ["Which person serves as mayor of {e}?"]),
    "region": ("city", "region", "the region of {e}", "region",
               ["In which region is {e}?",
                "Which region does {e} lie in?"],
               ["Name the region where {e} is located."]),
    "profession": ("person", "", "what {e} does", "profession",
                   ["What does {e} do for a living?",
                    "What is the profession of {e}?"],
                   ["What kind of work does {e} do?"]),
    "born": ("person", "born", "when {e} was born", "born",
             ["In which year was {e} born?",
              "When was {e} born?"],
             ["What is the birth year of {e}?"]),
    "birthplace": ("person", "born city", "where {e} was born",
                   "birthplace",
                   ["Where was {e} born?",
                    "In which city was {e} born?"],
                   ["Which city is the birthplace of {e}?"]),
    "height": ("person", "tall", "how tall {e} is", "height",
               ["How tall is {e} in cm?",
                "What is the height of {e} in cm?"],
               ["How many centimetres tall is {e}?"]),
    "price": ("product", "costs dollars", "the price of the {e}", "price",
              ["How much does the {e} cost?",
               "What is the price of the {e} in dollars?"],
              ["How many dollars do you pay for the {e}?"]),
    "weight": ("product", "weighs grams", "the weight of the {e}",
               "weight",
               ["How much does the {e} weigh in grams?",
                "What is the weight of the {e} in grams?"],
               ["How many grams does the {e} weigh?"]),
    "released": ("product", "released", "when the {e} was released",
                 "released",
                 ["When was the {e} released?",
                  "In which year did the {e} come out?"],
                 ["What year was the {e} first sold?"]),
    "maker": ("product", "made by", "who makes the {e}", "maker",
              ["Who makes the {e}?",
               "Which company makes the {e}?"],
              ["What company produces the {e}?"]),
    "kind": ("product", "", "what kind of product the {e} is", "kind",
             ["What kind of product is the {e}?",
              "What is the {e}?"],
             ["What sort of item is the {e}?"]),
}


def _entities(ctx, kind, split):
    """Entities of a kind for a split: every fifth is held out for test."""
    items = {"city": ctx.facts.cities, "person": ctx.facts.people,
             "product": ctx.facts.products}[kind]
    if split == "test":
        return [x for i, x in enumerate(items) if i % 5 == 2]
    return [x for i, x in enumerate(items) if i % 5 != 2]


def kb_query(name, word):
    return ("%s %s" % (name, word)).strip()


def kb_lookup(ep, ctx, ent, attr, first=True):
    """One kb_search step for ent's attr: thought, action; returns the
    value, or None when the passage is not the top one (the episode is
    then dropped)."""
    kind, word, noun, key = KB_ATTRS[attr][:4]
    lead = "I need to look up" if first else "Now I need to look up"
    ep.thought("%s %s." % (lead, noun.format(e=ent["name"])))
    text, err = ep.act("kb_search", {"k": 1,
                                     "query": kb_query(ent["name"], word)})
    top = text.split("\n", 1)[0]
    if err or ("] %s " % ent["name"] not in top and
               "] The %s " % ent["name"] not in top):
        return None
    return ent[key]


def gen_kb(ctx, rng, split, default=True):
    attr = rng.choice(sorted(KB_ATTRS))
    kind = KB_ATTRS[attr][0]
    ent = rng.choice(_entities(ctx, kind, split))
    qs = KB_ATTRS[attr][5] if split == "test" else KB_ATTRS[attr][4]
    q = rng.choice(qs).format(e=ent["name"])
    if _phrased(ctx, rng, split):
        q = phrasing.kb_question(rng, attr, ent["name"])
    ep = Episode(ctx, default_lines(ctx, rng), q)
    val = kb_lookup(ep, ctx, ent, attr)
    if val is None:
        return None
    if rng.random() < ctx.wait_share:
        ep.thought(FINAL_THOUGHT)
        ep.wait("let me search once more to be sure.")
        text, _ = ep.act("kb_search", {"k": 1, "query": ent["name"]})
        if ent["name"] not in text.split("\n", 1)[0]:
            return None
    ep.final(val)
    return ep


# ---- compositions --------------------------------------------------------------

COMPOSE = [
    # (kind, attr, op, templates); op: sum, diff (larger first), or a
    # special form handled below.
    ("city", "population", "sum",
     ["What is the combined population of {a} and {b}?",
      "How many people live in {a} and {b} together?",
      "T:If everyone in {a} and {b} met in one place, how many people "
      "would that be?"]),
    ("city", "population", "diff",
     ["How many more people live in {a} than in {b}?",
      "By how much is the population of {a} larger than that of {b}?",
      "T:What is the difference between the populations of {a} and {b}?"]),
    ("city", "founded", "diff",
     ["How many years after {b} was {a} founded?",
      "How many years passed between the founding of {b} and of {a}?",
      "T:How much younger, in years, is the city of {a} than {b}?"]),
    ("person", "born", "diff",
     ["How many years older is {b} than {a}?",
      "How many years apart were {b} and {a} born?",
      "T:What is the age gap in years between {a} and {b}?"]),
    ("person", "height", "diff",
     ["How many cm taller is {a} than {b}?",
      "T:By how many centimetres does {a} outgrow {b}?"]),
    ("product", "price", "sum",
     ["How much do the {a} and the {b} cost together?",
      "What is the total price of the {a} and the {b}?",
      "T:If I buy the {a} and the {b}, how many dollars do I spend?"]),
    ("product", "weight", "sum",
     ["What do the {a} and the {b} weigh together in grams?",
      "T:How many grams do the {a} and the {b} weigh in total?"]),
    ("product", "price", "diff",
     ["How much more does the {a} cost than the {b}?",
      "T:How many dollars cheaper is the {b} than the {a}?"]),
]

COMPOSE_ONE = [
    # one lookup, then calc with a number from the question
    ("product", "price", "mul",
     ["How much do {n} units of the {a} cost?",
      "What is the price of {n} of the {a}?",
      "T:A school orders {n} of the {a}. How many dollars does it pay?"]),
    ("person", "born", "age",
     ["How old was {a} in the year {n}?",
      "T:What age did {a} reach in {n}?"]),
    ("city", "population", "add",
     ["If {n} people move to {a}, what will its population be?",
      "T:What would the population of {a} be after {n} newcomers "
      "arrive?"]),
]

# chained lookups: the first answer names the entity of the second
CHAINED = [
    ("population", ["What is the population of the city where {a} was "
                    "born?",
                    "How many people live in the birthplace of {a}?",
                    "T:How many inhabitants does the home town of {a} "
                    "have?"]),
    ("mayor", ["Who is the mayor of the city where {a} was born?",
               "T:Who governs as mayor in the birthplace of {a}?"]),
]


def gen_compose(ctx, rng, split, default=True):
    r = rng.random()
    if r < 0.2:
        attr, templates = rng.choice(CHAINED)
        p = rng.choice(_entities(ctx, "person", split))
        q = rng.choice(_split_templates(templates, split)).format(
            a=p["name"])
        if _phrased(ctx, rng, split):
            q = phrasing.chained_question(rng, attr, p["name"])
        ep = Episode(ctx, default_lines(ctx, rng), q)
        city = kb_lookup(ep, ctx, p, "birthplace")
        if city is None:
            return None
        c = next(x for x in ctx.facts.cities if x["name"] == city)
        val = kb_lookup(ep, ctx, c, attr, first=False)
        if val is None:
            return None
        ep.final(val)
        return ep
    if r < 0.45:
        kind, attr, op, templates = rng.choice(COMPOSE_ONE)
        a = rng.choice(_entities(ctx, kind, split))
        if op == "mul":
            n = rng.randint(2, 60)
        elif op == "age":
            n = a["born"] + rng.randint(5, 95)
        else:
            n = rng.randint(10, 9999)
        q = rng.choice(_split_templates(templates, split)).format(
            a=a["name"], n=n)
        if _phrased(ctx, rng, split):
            q = phrasing.compose_one(rng, op, a["name"], n)
        ep = Episode(ctx, default_lines(ctx, rng), q)
        v = kb_lookup(ep, ctx, a, attr)
        if v is None:
            return None
        ep.thought("Now I can calculate the answer.")
        if op == "mul":
            expr = "%d * %d" % (v, n)
        elif op == "age":
            expr = "%d - %d" % (n, v)
        else:
            expr = "%d + %d" % (v, n)
        out, _ = ep.act("calc", {"expression": expr})
        ep.final(out)
        return ep
    kind, attr, op, templates = rng.choice(COMPOSE)
    ents = _entities(ctx, kind, split)
    a, b = rng.sample(ents, 2)
    key = KB_ATTRS[attr][3]
    if a[key] == b[key]:
        return None
    if op == "diff":
        if attr == "born":
            # {b} is older: born earlier
            if a[key] < b[key]:
                a, b = b, a
        elif a[key] < b[key]:
            a, b = b, a
    q = rng.choice(_split_templates(templates, split)).format(
        a=a["name"], b=b["name"])
    if _phrased(ctx, rng, split):
        q = phrasing.compose_two(rng, attr, op, a["name"], b["name"])
    ep = Episode(ctx, default_lines(ctx, rng), q)
    va = kb_lookup(ep, ctx, a, attr)
    if va is None:
        return None
    vb = kb_lookup(ep, ctx, b, attr, first=False)
    if vb is None:
        return None
    ep.thought("Now I can calculate the answer.")
    if op == "sum":
        expr = "%d + %d" % (va, vb)
    else:
        expr = "%d - %d" % (va, vb)
    out, _ = ep.act("calc", {"expression": expr})
    ep.final(out)
    return ep


# ---- tool-free sums ----------------------------------------------------------

SUM_Q = ["Without using a tool, what is {e}?",
         "Add {l} in your head.",
         "Work out {e} by hand, without tools.",
         "Without a calculator, add {l}.",
         "T:Mentally add {l}.",
         "T:Using no tools, compute {e}."]


def scratchpad(nums):
    """Column addition from the right: (thought text, digit lists)."""
    digits = [str(x)[::-1] for x in nums]
    width = max(len(d) for d in digits)
    carry = 0
    parts = []
    for col in range(width):
        terms = [d[col] for d in digits if col < len(d)]
        s = sum(int(t) for t in terms) + carry
        expr = " + ".join(terms + ([str(carry)] if carry else []))
        if col == width - 1:
            parts.append("%s = %d, write %d." % (expr, s, s))
        else:
            newc = s // 10
            if newc:
                parts.append("%s = %d, write %d carry %d." % (expr, s,
                                                               s % 10, newc))
            else:
                parts.append("%s = %d, write %d." % (expr, s, s))
            carry = newc
    total = sum(nums)
    return "I add the digits from the right. %s So the sum is %d." % (
        " ".join(parts), total)


def sum_operands(rng):
    """The numbers of a tool-free sum (two of up to four digits, or three
    of up to three), as a list, an expression and words:
    (nums, "a + b", "a and b")."""
    k = 2 if rng.random() < 0.65 else 3
    nums = [rng.randint(10, 9999 if k == 2 else 999) for _ in range(k)]
    e = " + ".join(str(x) for x in nums)
    lst = ", ".join(str(x) for x in nums[:-1]) + " and %d" % nums[-1]
    return nums, e, lst


def gen_sums(ctx, rng, split, default=True):
    nums, e, lst = sum_operands(rng)
    q = rng.choice(_split_templates(SUM_Q, split)).format(e=e, l=lst)
    if _phrased(ctx, rng, split):
        q = phrasing.sums_question(rng, e, lst)
    ep = Episode(ctx, default_lines(ctx, rng), q)
    total = sum(nums)
    if rng.random() < ctx.wait_share * 2:
        # Budget forcing: check the scratchpad with calc.  In a third of
        # them the scratchpad (not trained on) had gone wrong, and the
        # check corrects it.
        if rng.random() < 0.35:
            bad = list(nums)
            bad[0] += rng.choice([-10, -1, 1, 10, 100])
            if bad[0] < 0:
                bad[0] = nums[0]
            ep.fixed("Thought: %s\n" % scratchpad(bad))
        else:
            ep.thought(scratchpad(nums))
        ep.thought(FINAL_THOUGHT)
        ep.wait("let me check the sum with calc.")
        out, _ = ep.act("calc", {"expression": e})
        assert int(out) == total
        ep.final(out)
        return ep
    ep.thought(scratchpad(nums))
    ep.final(total)
    return ep


# ---- invented tools ------------------------------------------------------------

def gen_custom(ctx, rng, split, default=True):
    if split == "test":
        # Every tool of a test item exists as a Lua tool (models/eval/
        # tools), so the other invented tools are held-out ones too.
        target = ct.fixed_tool(rng.choice(ct.TEST_CONCEPTS))
        pool = [c for c in ct.TEST_CONCEPTS
                if c["key"] != target.concept["key"]]
    else:
        made_up = rng.random() < ctx.made_up
        vctx = {"cities": ctx.cities, "people": ctx.people}
        if made_up:
            target = ct.draw_tool(rng, phrasing.made_up_concept(rng, vctx))
        else:
            target = ct.draw_tool(rng, rng.choice(ct.TRAIN_CONCEPTS))
        pool = [c for c in ct.TRAIN_CONCEPTS
                if c["key"] != target.concept["key"]]
    extra = []
    builtins = EVAL_BUILTINS if split == "test" else builtin_names(rng)
    names = {target.name} | set(builtins)
    attrs = {target.concept["key"].split(":")[1]} \
        if split != "test" and made_up else set()
    for c in rng.sample(pool, rng.randint(0, 3)):
        if split != "test" and made_up and rng.random() < 0.6:
            c = phrasing.made_up_concept(rng, vctx)
            if c["key"].split(":")[1] in attrs:
                continue
            attrs.add(c["key"].split(":")[1])
        t = ct.fixed_tool(c) if c in ct.TEST_CONCEPTS else \
            ct.draw_tool(rng, c)
        if t.name not in names:
            names.add(t.name)
            extra.append(t)
    if split != "test":
        rng.shuffle(extra)
    custom = [target] + extra
    lines = [ctx.builtin_lines[n] for n in builtins] + [
        react.tool_line(t.name, t.description, t.schema) for t in custom]
    if split != "test" and rng.random() < 0.25:
        # A built-in question among invented tools.
        sub = (gen_calc if rng.random() < 0.5 else gen_kb)
        ep = sub(ctx, rng, split, default=False)
        if ep is None:
            return None
        # Re-render the same steps under the larger tool list.
        new = Episode(ctx, lines, ep.question, custom)
        new.segs.extend(ep.segs[1:])
        new.answer = ep.answer
        return new
    values = {role: fn(rng, {"cities": ctx.cities, "people": ctx.people})
              for role, fn in target.concept["values"].items()}
    q = rng.choice(target.concept["q"]).format(**values)
    ep = Episode(ctx, lines, q, custom)
    ep.thought("The %s tool fits this question." % target.name)
    args = target.args_for(values)
    if split == "test":
        out, err = ctx.tools.call(target.name, args)
        if err:
            raise RuntimeError("%s: %s" % (target.name, out))
        expect = target.output(args)
        if out != expect:
            raise RuntimeError("Lua %s gives %r, Python %r for %r"
                               % (target.name, out, expect, args))
        ep.custom.pop(target.name)
        out, _ = ep.act(target.name, args)
    else:
        out, _ = ep.act(target.name, args)
    ep.final(out)
    ep.target = target
    return ep


FAMILIES = [
    ("calc", gen_calc, 0.28),
    ("kb", gen_kb, 0.22),
    ("compose", gen_compose, 0.20),
    ("sums", gen_sums, 0.12),
    ("custom", gen_custom, 0.18),
]


def generate(ctx, rng, split, n, weights=None):
    out = []
    seen = set()
    fams = [f for f in FAMILIES]
    w = [f[2] for f in fams] if weights is None else weights
    while len(out) < n:
        name, fn, _ = rng.choices(fams, weights=w)[0]
        ep = fn(ctx, rng, split)
        if ep is None or ep.question in seen:
            continue
        seen.add(ep.question)
        rec = ep.record("%s-%s-%06d" % (split, name, len(out)), name, split)
        if getattr(ep, "target", None) is not None:
            rec["custom"] = [ep.target.name]
        out.append(rec)
    return out


# ---- the held-out test split as eval items -----------------------------------

LUA_TEMPLATE = """-- {name}: an invented tool of the bundled model's held-out test
-- split (models/train/customtools.py, concept "{key}").  Its output is a
-- made-up but deterministic function of the arguments: h, the hash of
-- the argument values in sorted key order joined by "|", as
-- customtools.tool_hash() computes it.
local function hash(args)
	local keys = {{}}
	for k in pairs(args) do
		keys[#keys + 1] = k
	end
	table.sort(keys)
	local parts = {{}}
	for i, k in ipairs(keys) do
		parts[i] = tostring(args[k])
	end
	local h = 7
	local s = table.concat(parts, "|")
	for i = 1, #s do
		h = (h * 31 + s:byte(i)) % 1000003
	end
	return h
end

return {{
	name = "{name}",
	description = "{desc}",
	parameters = {{
		type = "object",
		properties = {{
{props}
		}},
		required = {{ {required} }},
		additionalProperties = false,
	}},
	run = function(args)
		local h = hash(args)
		return {body}
	end,
}}
"""

LUA_BODIES = {
    "wind": 'tostring(h % 90)',
    "museum": 'string.format("%02d:00-%02d:00", 8 + h % 3, 16 + h % 5)',
    "tide": 'tostring(h % 500 + 20)',
    "isbn": 'string.format("978%07d", h % 10000000)',
    "fuel": 'tostring(h % 120 + 110)',
    "steps": 'tostring(h % 20000 + 300)',
}


def write_lua_tools(dirpath):
    os.makedirs(dirpath, exist_ok=True)
    for c in ct.TEST_CONCEPTS:
        t = ct.fixed_tool(c)
        props = "\n".join('\t\t\t%s = { type = "%s" },' % (n, ty)
                          for n, ty in zip(t.arg_names, t.types))
        req = ", ".join('"%s"' % n for n in sorted(t.arg_names))
        text = LUA_TEMPLATE.format(name=t.name, key=c["key"],
                                   desc=t.description, props=props,
                                   required=req, body=LUA_BODIES[c["key"]])
        with open(os.path.join(dirpath, t.name + ".lua"), "w") as f:
            f.write(text)


def eval_items(ctx, rng, per_family):
    """The test split: per_family items of each family."""
    items = []
    for name, fn, _ in FAMILIES:
        seen = set()
        got = 0
        while got < per_family:
            ep = fn(ctx, rng, "test")
            if ep is None or ep.question in seen:
                continue
            seen.add(ep.question)
            got += 1
            item = {"id": "%s-%03d" % (name, got), "family": name,
                    "input": ep.question, "expected": ep.answer}
            if name == "custom":
                item["tools"] = ep.names
            items.append((item, ep))
    return items


def write_jsonl(path, recs):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tools", required=True,
                    help="the model-tools program (tests/tools)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train", type=int, default=40000)
    ap.add_argument("--valid", type=int, default=600)
    ap.add_argument("--test-per-family", type=int, default=70)
    ap.add_argument("--wait-share", type=float, default=0.1)
    ap.add_argument("--phrased", type=float, default=0.7,
                    help="share of train/valid questions worded from "
                    "parts (phrasing.py) instead of a fixed template")
    ap.add_argument("--made-up", type=float, default=0.6,
                    help="share of invented-tool episodes whose tool is "
                    "made up from parts (phrasing.py)")
    ap.add_argument("--write-kb", action="store_true",
                    help="rewrite models/kb from kbgen.py")
    ap.add_argument("--write-eval", metavar="DIR", default="",
                    help="write the test split (*.jsonl, tools/*.lua) "
                    "into DIR (models/eval when committing)")
    ap.add_argument("--srcdir", default=SRCDIR)
    args = ap.parse_args()

    kb_dir = os.path.join(args.srcdir, "models", "kb")
    lua_dir = os.path.join(args.srcdir, "models", "eval", "tools")
    facts = kbgen.make_facts()
    files = kbgen.kb_files(facts)
    if args.write_kb:
        os.makedirs(kb_dir, exist_ok=True)
        for name, text in files.items():
            with open(os.path.join(kb_dir, name), "w") as f:
                f.write(text)
    for name, text in files.items():
        path = os.path.join(kb_dir, name)
        with open(path) as f:
            if f.read() != text:
                sys.exit("gen_data: %s differs from kbgen.py's facts "
                         "(rerun with --write-kb)" % path)
    if args.write_eval:
        write_lua_tools(os.path.join(args.write_eval, "tools"))
        lua_dir = os.path.join(args.write_eval, "tools")

    os.makedirs(args.out, exist_ok=True)
    with Tools(args.tools, kb_dir, lua_dir) as tools:
        lines = tools.prompt_lines()
        for n in BUILTINS:
            if n not in lines:
                sys.exit("gen_data: built-in tool %s missing" % n)
        ctx = Ctx(tools, facts, react.load_template(args.srcdir), lines)
        ctx.wait_share = args.wait_share
        ctx.phrased = args.phrased
        ctx.made_up = args.made_up
        for split, n, seed in (("train", args.train, args.seed),
                               ("valid", args.valid, args.seed + 1)):
            recs = generate(ctx, random.Random(seed), split, n)
            write_jsonl(os.path.join(args.out, split + ".jsonl"), recs)
            print("gen_data: %s: %d episodes" % (split, len(recs)))
        items = eval_items(ctx, random.Random(args.seed + 2),
                           args.test_per_family)
        write_jsonl(os.path.join(args.out, "test.jsonl"),
                    [ep.record(it["id"], it["family"], "test")
                     for it, ep in items])
        train_q = set()
        with open(os.path.join(args.out, "train.jsonl")) as f:
            for line in f:
                train_q.add(json.loads(line)["question"])
        clash = [it["id"] for it, _ in items if it["input"] in train_q]
        if clash:
            sys.exit("gen_data: test questions also in train: %s"
                     % ", ".join(clash[:5]))
        if args.write_eval:
            by_family = {}
            for it, _ in items:
                by_family.setdefault(it["family"], []).append(it)
            for fam, its in by_family.items():
                write_jsonl(os.path.join(args.write_eval, fam + ".jsonl"),
                            its)
        print("gen_data: test: %d items" % len(items))
        tools.close()


if __name__ == "__main__":
    main()
