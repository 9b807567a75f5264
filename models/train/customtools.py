"""Invented tools for the episodes that teach choosing a tool from its
description.

Each concept is a kind of tool (a weather service, a stock quote, ...)
with several names, descriptions and argument names, so that the model
learns to read the tool list rather than remember it.  Outputs are made up
but deterministic: a function of the arguments through tool_hash(), which
the Lua versions in models/eval/tools/ compute the same way.

TRAIN_CONCEPTS appear in the training and validation data; TEST_CONCEPTS
only in the held-out test split, each with one fixed name, description
and schema, implemented as a Lua tool (models/eval/tools/<name>.lua) that
the evaluation loads exactly as a user's tool would be.
"""

WORDS = [
    "river", "garden", "window", "silver", "candle", "forest", "pepper",
    "marble", "thunder", "harbor", "lantern", "meadow", "violet", "copper",
    "falcon", "orchard", "pebble", "saddle", "timber", "velvet", "willow",
    "anchor", "basket", "cobalt", "dragon", "ember", "feather", "glacier",
]
LANGUAGES = ["Velish", "Ormic", "Tharnese", "Quellan", "Brisian", "Sundic"]
COUNTRIES = ["Norvale", "Estmark", "Karadun", "Sellow", "Pirran", "Vostria"]
FOODS = ["apple", "bagel", "pancake", "burrito", "muffin", "salad",
         "omelette", "pretzel", "waffle", "dumpling"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
        "Saturday", "Sunday"]
STREETS = ["Elm Street", "Harbor Road", "Mill Lane", "Station Square",
           "Oak Avenue", "Bridge Street"]
MUSEUMS = ["Glass Museum", "Museum of Clocks", "Old Mint", "Sea Gallery",
           "Lantern House", "Museum of Maps"]
HARBOURS = ["Greyport", "Saltmere", "Kelp Bay", "Dunmouth", "Wrenhaven",
            "Ostwick"]
TITLES = ["The Silent Orchard", "Copper Rain", "A Map of Ash",
          "The Ninth Lantern", "Winter Falcon", "Salt and Ember",
          "The Glass River", "Under Velvet Skies"]

SYL = ["ka", "lo", "mi", "ren", "sa", "tu", "vek", "zo", "dar", "eli",
       "fon", "gri", "hul", "ira", "jo", "nex", "pol", "qua", "rud", "sil"]


def tool_hash(values):
    """h over the argument values in sorted key order, joined by '|':
    h = (h * 31 + byte) mod 1000003 over the UTF-8 bytes."""
    h = 7
    for b in "|".join(str(v) for v in values).encode("utf-8"):
        h = (h * 31 + b) % 1000003
    return h


def _args_hash(args):
    return tool_hash([args[k] for k in sorted(args)])


def _pick(seq, h, shift=0):
    return seq[(h >> shift) % len(seq)]


def _word_from(h, n):
    out = ""
    for i in range(n):
        out += SYL[(h // (20 ** i)) % 20]
    return out


# A concept: key; names; descriptions; args: list of (role, [names],
# schema type); values: role -> callable(rng, ctx) for the argument
# values; q_train / q_test: question templates over the roles; out:
# callable(h, values by role) -> output text (the answer is the output).

def _v_city(rng, ctx):
    return rng.choice(ctx["cities"])


def _v_person(rng, ctx):
    return rng.choice(ctx["people"])


def _v_ticker(rng, ctx):
    return "".join(rng.choice("ABCDEFGHJKLMNPRSTVWXZ")
                   for _ in range(rng.randint(3, 4)))


def _v_flight(rng, ctx):
    return "%s%s%d" % (rng.choice("ABDEFKLMRSTUVZ"), rng.choice("AEKLOSUX"),
                       rng.randint(100, 9999))


def _v_word(rng, ctx):
    return rng.choice(WORDS)


def _v_int(lo, hi):
    return lambda rng, ctx: rng.randint(lo, hi)


def _v_choice(seq):
    return lambda rng, ctx: rng.choice(seq)


TRAIN_CONCEPTS = [
    dict(key="weather",
         names=["weather_now", "get_weather", "current_temperature"],
         descs=["Returns the current temperature in degrees Celsius for a "
                "city.",
                "Gives the temperature in a city right now, in degrees."],
         args=[("city", ["city", "place", "location"], "string")],
         values={"city": _v_city},
         q=["What is the temperature in {city} right now?",
            "How warm is it in {city} at the moment?",
            "How many degrees is it in {city} now?"],
         out=lambda h, v: str(h % 56 - 15)),
    dict(key="stock",
         names=["stock_price", "get_quote", "share_price"],
         descs=["Returns the latest share price in dollars for a stock "
                "ticker symbol.",
                "Looks up what one share of a company costs, by ticker."],
         args=[("ticker", ["ticker", "symbol"], "string")],
         values={"ticker": _v_ticker},
         q=["What is the share price of {ticker}?",
            "How much does one share of {ticker} cost today?",
            "What does a {ticker} share trade at?"],
         out=lambda h, v: str(h % 900 + 10)),
    dict(key="flight",
         names=["flight_status", "check_flight", "flight_info"],
         descs=["Tells whether a flight is on time, delayed or cancelled.",
                "Returns the status of a flight given its flight number."],
         args=[("flight", ["flight", "flight_number", "code"], "string")],
         values={"flight": _v_flight},
         q=["Is flight {flight} on time?",
            "What is the status of flight {flight}?",
            "Has flight {flight} been delayed?"],
         out=lambda h, v: ["on time", "delayed %d minutes" % (h % 170 + 10),
                           "cancelled", "boarding"][h % 4]),
    dict(key="distance",
         names=["road_distance", "distance_km", "route_length"],
         descs=["Returns the driving distance in km between two cities.",
                "Measures how far apart two cities are by road, in "
                "kilometres."],
         args=[("a", ["from", "origin", "start"], "string"),
               ("b", ["to", "destination", "end"], "string")],
         values={"a": _v_city, "b": _v_city},
         q=["How far is it from {a} to {b} by road in km?",
            "What is the driving distance between {a} and {b}?",
            "How many kilometres is the drive from {a} to {b}?"],
         out=lambda h, v: str(h % 2900 + 20)),
    dict(key="timezone",
         names=["time_zone", "get_timezone", "city_timezone"],
         descs=["Returns the UTC offset of the time zone a city is in.",
                "Tells which time zone a city uses."],
         args=[("city", ["city", "place"], "string")],
         values={"city": _v_city},
         q=["Which time zone is {city} in?",
            "What is the UTC offset of {city}?"],
         out=lambda h, v: "UTC%+d" % (h % 25 - 12)),
    dict(key="translate",
         names=["translate_word", "dictionary_translate", "word_to"],
         descs=["Translates one English word into another language.",
                "Returns the word for an English word in a given "
                "language."],
         args=[("word", ["word", "text", "term"], "string"),
               ("language", ["language", "lang", "target"], "string")],
         values={"word": _v_word, "language": _v_choice(LANGUAGES)},
         q=["How do you say {word} in {language}?",
            "What is the {language} word for {word}?",
            "Translate {word} into {language}."],
         out=lambda h, v: _word_from(h, 3)),
    dict(key="postcode",
         names=["postal_code", "zip_lookup", "postcode_for"],
         descs=["Returns the postal code of a city.",
                "Looks up the zip code used in a city."],
         args=[("city", ["city", "town"], "string")],
         values={"city": _v_city},
         q=["What is the postal code of {city}?",
            "Which zip code does {city} use?"],
         out=lambda h, v: "%05d" % (h % 100000)),
    dict(key="order",
         names=["order_status", "track_order", "get_order"],
         descs=["Returns the delivery status of a customer order by its "
                "number.",
                "Tracks an order and says where it is."],
         args=[("order", ["order_id", "id", "number"], "integer")],
         values={"order": _v_int(1000, 99999)},
         q=["What is the status of order {order}?",
            "Where is my order number {order}?",
            "Has order {order} shipped yet?"],
         out=lambda h, v: ["shipped", "delivered", "packing", "on hold",
                           "out for delivery"][h % 5]),
    dict(key="phone",
         names=["phone_book", "find_phone", "contact_number"],
         descs=["Looks up the phone number of a person.",
                "Returns the telephone number stored for a contact name."],
         args=[("name", ["name", "person", "contact"], "string")],
         values={"name": _v_person},
         q=["What is the phone number of {name}?",
            "How can I call {name}? Give the number.",
            "Which number does {name} have?"],
         out=lambda h, v: "555-%04d" % (h % 10000)),
    dict(key="reverse",
         names=["reverse_text", "flip_string", "backwards"],
         descs=["Returns the given text with its characters in reverse "
                "order.",
                "Writes a string backwards."],
         args=[("text", ["text", "input", "s"], "string")],
         values={"text": _v_word},
         q=["What is {text} written backwards?",
            "Reverse the word {text}.",
            "Spell {text} in reverse order."],
         out=lambda h, v: v["text"][::-1]),
    dict(key="exchange",
         names=["convert_currency", "fx_convert", "exchange_money"],
         descs=["Converts an amount of money from one currency to "
                "another.",
                "Returns how much an amount is worth in another currency."],
         args=[("amount", ["amount", "value"], "integer"),
               ("src", ["from", "source"], "string"),
               ("dst", ["to", "target"], "string")],
         values={"amount": _v_int(5, 5000),
                 "src": _v_choice(["crowns", "marks", "florins"]),
                 "dst": _v_choice(["dollars", "euros", "pounds"])},
         q=["How many {dst} do I get for {amount} {src}?",
            "Convert {amount} {src} to {dst}.",
            "What are {amount} {src} worth in {dst}?"],
         out=lambda h, v: str(h % 9000 + 3)),
    dict(key="sunrise",
         names=["sunrise_time", "sun_times", "dawn"],
         descs=["Returns the time the sun rises today in a city.",
                "Tells when sunrise is in a city."],
         args=[("city", ["city", "location"], "string")],
         values={"city": _v_city},
         q=["When does the sun rise in {city} today?",
            "What time is sunrise in {city}?"],
         out=lambda h, v: "%02d:%02d" % (4 + h % 4, h % 60)),
    dict(key="shipping",
         names=["shipping_cost", "parcel_price", "postage"],
         descs=["Returns the cost in dollars of shipping a parcel of a "
                "given weight to a country.",
                "Prices a parcel by its weight in grams and where it "
                "goes."],
         args=[("weight", ["weight", "grams"], "integer"),
               ("country", ["country", "destination"], "string")],
         values={"weight": _v_int(50, 20000),
                 "country": _v_choice(COUNTRIES)},
         q=["How much does it cost to ship a {weight} gram parcel to "
            "{country}?",
            "What is the postage for {weight} grams to {country}?"],
         out=lambda h, v: str(h % 180 + 4)),
    dict(key="author",
         names=["book_author", "who_wrote", "author_lookup"],
         descs=["Returns the author of a book given its title.",
                "Finds who wrote a book."],
         args=[("title", ["title", "book"], "string")],
         values={"title": _v_choice(TITLES)},
         q=["Who wrote the book {title}?",
            "Who is the author of {title}?"],
         out=lambda h, v: "%s %s" % (_word_from(h, 2).capitalize(),
                                     _word_from(h // 400, 2).capitalize())),
    dict(key="airport",
         names=["airport_code", "iata_code", "find_airport"],
         descs=["Returns the three letter code of the airport of a city.",
                "Looks up a city's airport code."],
         args=[("city", ["city", "name"], "string")],
         values={"city": _v_city},
         q=["What is the airport code of {city}?",
            "Which three letter code does the airport of {city} have?"],
         out=lambda h, v: "".join("ABCDEFGHIJKLMNOPQRSTUVWXYZ"[
             (h // (26 ** i)) % 26] for i in range(3))),
    dict(key="room",
         names=["room_booking", "room_free", "check_room"],
         descs=["Tells whether a meeting room is free or booked on a day.",
                "Checks if a room is available on a day of the week."],
         args=[("room", ["room", "name"], "string"),
               ("day", ["day", "weekday"], "string")],
         values={"room": _v_choice(["Aster", "Birch", "Cedar", "Dahlia",
                                    "Elm", "Fern"]),
                 "day": _v_choice(DAYS)},
         q=["Is room {room} free on {day}?",
            "Can I book room {room} on {day}?"],
         out=lambda h, v: ["free", "booked"][h % 2]),
    dict(key="calories",
         names=["calorie_count", "food_energy", "nutrition"],
         descs=["Returns the number of calories in one serving of a food.",
                "Tells how much energy in kcal a food has."],
         args=[("food", ["food", "item", "dish"], "string")],
         values={"food": _v_choice(FOODS)},
         q=["How many calories are in a {food}?",
            "How much energy does one {food} have in kcal?"],
         out=lambda h, v: str(h % 700 + 40)),
    dict(key="elevation",
         names=["elevation", "altitude_of", "height_above_sea"],
         descs=["Returns the height of a city above sea level in metres.",
                "Gives a city's altitude in metres."],
         args=[("city", ["city", "place"], "string")],
         values={"city": _v_city},
         q=["How high above sea level is {city} in metres?",
            "What is the altitude of {city}?"],
         out=lambda h, v: str(h % 2400)),
    dict(key="votes",
         names=["vote_count", "election_result", "tally"],
         descs=["Returns how many votes a candidate received.",
                "Counts the votes cast for a candidate."],
         args=[("name", ["candidate", "name"], "string")],
         values={"name": _v_person},
         q=["How many votes did {name} get?",
            "How many people voted for {name}?"],
         out=lambda h, v: str(h % 90000 + 100)),
    dict(key="loans",
         names=["library_loans", "books_on_loan", "member_loans"],
         descs=["Returns how many library books a member has borrowed, by "
                "member number.",
                "Counts the books a library member has out."],
         args=[("member", ["member", "member_id", "card"], "integer")],
         values={"member": _v_int(100, 9999)},
         q=["How many books has library member {member} borrowed?",
            "How many books does member {member} have on loan?"],
         out=lambda h, v: str(h % 12)),
    dict(key="parking",
         names=["parking_spots", "free_parking", "car_park"],
         descs=["Returns the number of free parking spaces in a street.",
                "Counts the empty parking spots on a street."],
         args=[("street", ["street", "road"], "string")],
         values={"street": _v_choice(STREETS)},
         q=["How many parking spaces are free on {street}?",
            "Are there free parking spots on {street}? How many?"],
         out=lambda h, v: str(h % 40)),
    dict(key="train",
         names=["next_train", "train_times", "departures"],
         descs=["Returns the departure time of the next train from a "
                "station.",
                "Tells when the next train leaves a station."],
         args=[("station", ["station", "stop"], "string")],
         values={"station": _v_city},
         q=["When does the next train leave {station}?",
            "What time is the next train from {station}?"],
         out=lambda h, v: "%02d:%02d" % (h % 24, (h // 24) % 60)),
]

# Held out: only in the test split, as Lua tools under models/eval/tools.
TEST_CONCEPTS = [
    dict(key="wind", names=["wind_speed"],
         descs=["Returns the current wind speed in km per hour for a "
                "city."],
         args=[("city", ["city"], "string")],
         values={"city": _v_city},
         q=["How fast is the wind blowing in {city} now?",
            "What is the wind speed in {city}?"],
         out=lambda h, v: str(h % 90)),
    dict(key="museum", names=["museum_hours"],
         descs=["Returns the opening hours of a museum."],
         args=[("museum", ["museum"], "string")],
         values={"museum": _v_choice(MUSEUMS)},
         q=["When is the {museum} open?",
            "What are the opening hours of the {museum}?"],
         out=lambda h, v: "%02d:00-%02d:00" % (8 + h % 3, 16 + h % 5)),
    dict(key="tide", names=["tide_level"],
         descs=["Returns the height of the tide in cm at a harbour."],
         args=[("harbour", ["harbour"], "string")],
         values={"harbour": _v_choice(HARBOURS)},
         q=["How high is the tide at {harbour} in cm?",
            "What is the tide level in {harbour}?"],
         out=lambda h, v: str(h % 500 + 20)),
    dict(key="isbn", names=["isbn_lookup"],
         descs=["Returns the ISBN number of a book given its title."],
         args=[("title", ["title"], "string")],
         values={"title": _v_choice(TITLES)},
         q=["What is the ISBN of {title}?",
            "Which ISBN number does the book {title} have?"],
         out=lambda h, v: "978%07d" % (h % 10000000)),
    dict(key="fuel", names=["fuel_price"],
         descs=["Returns the price of a litre of fuel in cents in a city."],
         args=[("city", ["city"], "string")],
         values={"city": _v_city},
         q=["How much does a litre of fuel cost in {city}?",
            "What is the fuel price in {city} in cents?"],
         out=lambda h, v: str(h % 120 + 110)),
    dict(key="steps", names=["step_counter"],
         descs=["Returns how many steps a person walked today."],
         args=[("person", ["person"], "string")],
         values={"person": _v_person},
         q=["How many steps did {person} walk today?",
            "What is the step count of {person} today?"],
         out=lambda h, v: str(h % 20000 + 300)),
]


def schema_of(arg_names, types):
    props = {}
    for name, t in zip(arg_names, types):
        props[name] = {"type": t}
    return {"additionalProperties": False, "properties": props,
            "required": sorted(arg_names), "type": "object"}


class Tool:
    """One instance of a concept: a name, a description and argument
    names, drawn from the concept's variants."""

    def __init__(self, concept, name, desc, arg_names):
        self.concept = concept
        self.name = name
        self.description = desc
        self.roles = [a[0] for a in concept["args"]]
        self.arg_names = arg_names
        self.types = [a[2] for a in concept["args"]]
        self.schema = schema_of(arg_names, self.types)

    def args_for(self, values):
        return {n: values[r] for n, r in zip(self.arg_names, self.roles)}

    def output(self, args):
        """The tool's text for args (keys are the argument names)."""
        h = _args_hash(args)
        by_role = {r: args[n] for n, r in zip(self.arg_names, self.roles)}
        return self.concept["out"](h, by_role)


def draw_tool(rng, concept):
    name = rng.choice(concept["names"])
    desc = rng.choice(concept["descs"])
    arg_names = [rng.choice(a[1]) for a in concept["args"]]
    if len(set(arg_names)) != len(arg_names):
        arg_names = [a[1][0] for a in concept["args"]]
    return Tool(concept, name, desc, arg_names)


def fixed_tool(concept):
    """The one variant a test concept has."""
    return Tool(concept, concept["names"][0], concept["descs"][0],
                [a[1][0] for a in concept["args"]])
