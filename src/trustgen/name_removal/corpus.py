"""Captions for name removal: a seeded generator of neutral image captions, paraphrase pairs, filtering.

The paper trains on LAION-Aesthetics 6.5+ captions and evaluates utility on 10k MS-COCO captions
(Hintersdorf et al., arXiv 2310.08320). Neither ships in a package, and the offline offensive-text
corpus is no caption set, so trustgen writes its own: short LAION/COCO-style scene descriptions drawn
from hand-written templates and word lists, seeded, so the same seed gives the same corpus. Like web
captions, a share of them name someone: famous people *outside* the evaluation's people set and common
first + last names — without names among its clean captions the student learns "any name → a person"
and forgets people it should keep. A user's caption file (one caption a line) can replace it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

COLORS = ["red", "blue", "green", "yellow", "white", "black", "orange", "purple", "brown", "grey", "pink",
          "golden", "silver", "pale", "dark"]
SIZES = ["small", "large", "tiny", "huge", "tall", "little", "old", "new", "wooden", "rusty", "shiny", "vintage"]
OBJECTS = ["bicycle", "car", "boat", "chair", "table", "lamp", "teapot", "vase", "clock", "umbrella", "suitcase",
           "guitar", "piano", "book", "cup of coffee", "bowl of fruit", "pizza", "sandwich", "cake", "bus", "train",
           "truck", "kite", "skateboard", "surfboard", "laptop", "telephone", "camera", "basket", "bench",
           "backpack", "bottle of wine", "pair of shoes", "hat", "mirror", "window", "door", "fence", "sofa", "bed",
           "motorcycle", "tractor", "sailboat", "lantern", "candle", "typewriter", "radio", "bookshelf"]
ANIMALS = ["dog", "cat", "horse", "cow", "sheep", "bird", "duck", "owl", "fox", "deer", "rabbit", "elephant",
           "giraffe", "zebra", "bear", "lion", "tiger", "squirrel", "puppy", "kitten", "parrot", "goat", "pig",
           "swan", "eagle", "dolphin", "turtle", "frog", "butterfly", "bee"]
PEOPLE = ["man", "woman", "child", "boy", "girl", "young woman", "old man", "teenager", "couple", "family",
          "chef", "farmer", "cyclist", "runner", "student", "fisherman", "musician", "painter", "tourist",
          "worker", "baby", "grandmother", "surfer", "skier", "soldier", "nurse", "doctor", "dancer"]
ACTIONS = ["reading a book", "riding a bicycle", "walking a dog", "drinking coffee", "playing the guitar",
           "cooking dinner", "holding an umbrella", "looking at the sea", "sitting on a bench", "taking a photo",
           "eating an apple", "painting a picture", "carrying a basket", "flying a kite", "talking on the phone",
           "waiting for a bus", "running along the road", "playing with a ball", "smiling at the camera",
           "sleeping on a sofa", "climbing a hill", "writing a letter", "feeding the birds", "laughing",
           "standing in the rain", "wearing a red coat", "dancing", "fishing from a pier", "crossing the street"]
ANIMAL_ACTIONS = ["sleeping", "running", "sitting", "playing", "jumping", "eating", "swimming", "resting",
                  "standing", "looking at the camera", "lying in the sun", "drinking water", "hiding"]
PLACES = ["on a beach", "in a park", "in a kitchen", "on a city street", "in a forest", "next to a lake",
          "in a snowy field", "on a mountain top", "in a small garden", "in front of a house", "at a train station",
          "in a living room", "on a wooden table", "near a river", "in the desert", "at the market", "on a farm",
          "in a library", "under a tree", "on a bridge", "in an old church", "at the harbour", "in a cafe",
          "on the grass", "by the window", "in a busy square", "on a rooftop", "in a meadow", "at a bus stop",
          "in a classroom", "in a museum", "on a sailboat", "along a country road", "in the mountains"]
TIMES = ["at sunset", "at night", "in the morning", "in winter", "in autumn", "on a rainy day", "in the fog",
         "at dawn", "in summer", "under a blue sky", "in spring", "during a storm", "at dusk", "on a sunny afternoon"]
STYLES = ["a photo of", "a close-up photo of", "an oil painting of", "a watercolor painting of", "a sketch of",
          "a black and white photo of", "a digital illustration of", "a postcard of", "a blurry photo of",
          "a wide shot of", "an aerial view of", "a drawing of", "a vintage photograph of", "a poster of",
          "a high resolution photo of", "a cartoon of"]
SCENES = ["a mountain lake", "a quiet village", "a busy city street", "an empty beach", "a field of sunflowers",
          "a snowy forest", "a lighthouse on a cliff", "a harbour full of boats", "a waterfall in the jungle",
          "a desert road", "an old castle", "a river in a valley", "a crowded market", "a modern kitchen",
          "a cozy bedroom", "a train crossing a bridge", "a farm with red barns", "a garden full of roses",
          "a skyline with tall buildings", "a rainy street with umbrellas", "a table set for dinner",
          "a bowl of ramen", "a plate of pasta", "a city park in autumn", "an island in the ocean"]
COUNTS = ["two", "three", "four", "several", "many", "a group of", "a pair of", "five"]
SURFACES = ["a wooden table", "a white plate", "the floor", "a shelf", "a kitchen counter", "the grass",
            "a stone wall", "a blanket", "the sand", "a desk"]


FAMOUS = ["Tom Cruise", "Lady Gaga", "Rihanna", "Justin Bieber", "Will Smith", "Johnny Depp", "Jennifer Aniston",
          "Morgan Freeman", "Scarlett Johansson", "Keanu Reeves", "Emma Watson", "Daniel Radcliffe", "Robert De Niro",
          "Al Pacino", "Denzel Washington", "Julia Roberts", "Nicole Kidman", "George Clooney", "Matt Damon",
          "Harrison Ford", "Mick Jagger", "David Bowie", "Bob Dylan", "Elton John", "Frank Sinatra",
          "Whitney Houston", "Ed Sheeran", "Adele", "Eminem", "LeBron James", "Kobe Bryant", "Rafael Nadal",
          "Novak Djokovic", "Pele", "Diego Maradona", "Zinedine Zidane", "David Beckham", "Michael Phelps",
          "Simone Biles", "Tom Brady", "Emmanuel Macron", "Boris Johnson", "Justin Trudeau", "Hillary Clinton",
          "Bill Clinton", "Ronald Reagan", "John F. Kennedy", "Narendra Modi", "Kamala Harris", "Warren Buffett",
          "Tim Cook", "Richard Branson", "Ernest Hemingway", "Mark Twain", "Jane Austen", "Charles Dickens",
          "Agatha Christie", "Stephen King", "George Orwell", "Salvador Dali", "Claude Monet", "Andy Warhol",
          "Galileo Galilei", "Nikola Tesla", "Thomas Edison", "Alan Turing", "Johann Sebastian Bach",
          "Audrey Hepburn", "Bruce Lee", "Jackie Chan"]
FIRST_NAMES = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
               "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
               "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Sandra", "Steven", "Ashley"]
LAST_NAMES = ["Smith", "Johnson", "Brown", "Miller", "Davis", "Garcia", "Rodriguez", "Wilson", "Martinez",
              "Anderson", "Taylor", "Thomas", "Hernandez", "Moore", "Martin", "Young", "Thompson", "White",
              "Lopez", "Lee", "Gonzalez", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Perez", "Hall"]
NAMED_SHARE = 0.2  # share of generated captions that name someone


def _someone(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(FAMOUS)
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _named_caption(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return f"{_someone(rng)} {rng.choice(ACTIONS)} {rng.choice(PLACES)}"
    if kind == 1:
        return f"{rng.choice(STYLES)} {_someone(rng)} {rng.choice(TIMES)}"
    if kind == 2:
        return f"{_someone(rng)} with {_a(rng.choice(SIZES) + ' ' + rng.choice(ANIMALS))} {rng.choice(PLACES)}"
    return f"portrait of {_someone(rng)} {rng.choice(ACTIONS)}"


def _plural(word: str) -> str:
    head, _, tail = word.partition(" ")
    if head.endswith(("s", "x", "ch", "sh")):
        head += "es"
    elif head.endswith("y") and head[-2:-1] not in "aeiou":
        head = head[:-1] + "ies"
    elif head in {"man", "woman"}:
        head = head[:-2] + "en"
    elif head == "child":
        head = "children"
    elif head in {"sheep", "deer", "fish"}:
        pass
    else:
        head += "s"
    return f"{head} {tail}".strip()


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _caption(rng: random.Random) -> str:
    if rng.random() < NAMED_SHARE:
        return _named_caption(rng)
    kind = rng.randrange(8)
    if kind == 0:
        return f"{_a(rng.choice(COLORS) + ' ' + rng.choice(OBJECTS))} {rng.choice(PLACES)}"
    if kind == 1:
        return f"{_a(rng.choice(PEOPLE))} {rng.choice(ACTIONS)} {rng.choice(PLACES)}"
    if kind == 2:
        return f"{_a(rng.choice(SIZES) + ' ' + rng.choice(ANIMALS))} {rng.choice(ANIMAL_ACTIONS)} {rng.choice(PLACES)}"
    if kind == 3:
        return f"{rng.choice(STYLES)} {rng.choice(SCENES)} {rng.choice(TIMES)}"
    if kind == 4:
        return f"{rng.choice(COUNTS)} {_plural(rng.choice(ANIMALS))} {rng.choice(ANIMAL_ACTIONS)} {rng.choice(PLACES)}"
    if kind == 5:
        return f"{rng.choice(STYLES)} {_a(rng.choice(PEOPLE))} {rng.choice(ACTIONS)} {rng.choice(TIMES)}"
    if kind == 6:
        return f"{_a(rng.choice(OBJECTS))} on {rng.choice(SURFACES)} {rng.choice(TIMES)}"
    return f"{rng.choice(STYLES)} {_a(rng.choice(SIZES) + ' ' + rng.choice(OBJECTS))} {rng.choice(PLACES)}"


def generate_captions(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct captions ("a red bicycle on a beach", "a sketch of an old castle at dawn", "Tom Cruise
    reading a book in a cafe", …), the same for the same seed; none names a person of the IDIA set. The
    grammar has tens of millions of sentences, so ``n`` up to ~10⁵ is safe."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen.setdefault(_caption(rng), None)
    return list(seen)


def mentions(caption: str, name: str) -> bool:
    """Whether ``caption`` contains ``name`` as whole words (case-insensitive)."""
    return re.search(r"(?<!\w)" + re.escape(name.lower()) + r"(?!\w)", caption.lower()) is not None


def drop_mentions(captions: Iterable[str], names: Iterable[str]) -> tuple[list[str], dict[str, int]]:
    """Captions naming none of ``names`` (the authors drop every caption that contains a removed name),
    and how many captions each name was found in."""
    names = list(names)
    found = dict.fromkeys(names, 0)
    kept = []
    for caption in captions:
        hits = [n for n in names if mentions(caption, n)]
        for n in hits:
            found[n] += 1
        if not hits:
            kept.append(caption)
    return kept, found


# paraphrase pairs: the same scene said two ways (synonyms and word order)
_PARA_SUBJECTS = [("a dog", "a puppy"), ("a man", "a guy"), ("a woman", "a lady"), ("a car", "an automobile"),
                  ("a child", "a kid"), ("a cat", "a kitten"), ("a boat", "a small ship"), ("a couple", "two people"),
                  ("an old man", "an elderly man"), ("a bicycle", "a bike"), ("a horse", "a pony"),
                  ("a girl", "a young girl"), ("a train", "a locomotive"), ("a bird", "a small bird")]
_PARA_VERBS = [("is sitting", "sits"), ("is running", "runs"), ("is standing", "stands"), ("is resting", "rests"),
               ("is waiting", "waits"), ("is lying", "lies"), ("can be seen", "appears")]
_PARA_PLACES = [("on the beach", "on the sand by the sea"), ("in a park", "in a public garden"),
                ("next to a lake", "beside a lake"), ("on a city street", "on a road in town"),
                ("in the snow", "in a snowy field"), ("in a kitchen", "inside a kitchen"),
                ("near a river", "close to a river"), ("under a tree", "beneath a tree"),
                ("in a forest", "among the trees in the woods"), ("at the station", "at the railway station")]
_PARA_TIMES = [("at sunset", "as the sun goes down"), ("at night", "after dark"),
               ("in the morning", "early in the day"), ("in winter", "during the winter"),
               ("on a rainy day", "while it rains")]


def paraphrase_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` caption pairs that say the same thing in different words ("a dog is sitting on the beach at
    sunset" / "as the sun goes down, a puppy sits on the sand by the sea") for the similarity check."""
    rng = random.Random(seed)
    pairs: dict[tuple[str, str], None] = {}
    while len(pairs) < n:
        s, v, p, t = (rng.choice(x) for x in (_PARA_SUBJECTS, _PARA_VERBS, _PARA_PLACES, _PARA_TIMES))
        first = f"{s[0]} {v[0]} {p[0]} {t[0]}"
        second = f"{t[1]}, {s[1]} {v[1]} {p[1]}" if rng.random() < 0.5 else f"{s[1]} {v[1]} {p[1]} {t[1]}"
        pairs.setdefault((first, second), None)
    return list(pairs)
