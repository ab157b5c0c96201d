"""Word banks of the synthetic LaMP users (kept apart from the generator's logic)."""

from __future__ import annotations

#: LaMP-3: product topics → products, and a detail phrase pool per topic.
REVIEW_TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "kitchen": (("kettle", "blender", "frying pan", "knife set", "toaster"),
                ("heats up fast", "is easy to clean", "looks nice on the counter", "handles a family dinner")),
    "garden": (("garden hose", "pair of pruning shears", "planter", "seed kit", "watering can"),
               ("survived a wet spring", "keeps the tomatoes happy", "works well in the backyard", "holds plenty of soil")),
    "camping": (("tent", "sleeping bag", "lantern", "camp stove", "hiking backpack"),
                ("kept me dry on the trail", "packs down small", "stayed warm at night", "is light enough for long hikes")),
    "books": (("novel", "cookbook", "biography", "poetry collection", "mystery novel"),
              ("has well written chapters", "kept me reading late", "has a gripping plot", "is printed on good paper")),
    "music": (("pair of headphones", "set of guitar strings", "speaker", "vinyl record", "keyboard"),
              ("has deep bass", "sounds clear at high volume", "stays in tune", "fills the room with sound")),
    "fitness": (("yoga mat", "set of dumbbells", "pair of running shoes", "jump rope", "fitness tracker"),
                ("grips well during workouts", "counts steps accurately", "feels solid in the hand", "helped my morning runs")),
    "pets": (("dog leash", "cat tree", "pet bed", "chew toy", "litter box"),
             ("my dog loves it", "the cat sleeps on it all day", "holds up to chewing", "is easy to wash")),
    "tech": (("phone case", "phone charger", "laptop stand", "wireless mouse", "usb cable"),
             ("charges quickly", "fits my laptop well", "connects without trouble", "feels sturdy")),
    "beauty": (("shampoo", "face cream", "hair dryer", "bottle of perfume", "lip balm"),
               ("smells lovely", "leaves my skin soft", "dries my hair quickly", "lasts all day")),
    "toys": (("puzzle", "board game", "toy train", "building block set", "stuffed bear"),
             ("kept the kids busy for hours", "has bright colors", "is great for family game night", "is safe for toddlers")),
}

#: LaMP-3: sentiment sentences per star rating.
SENTIMENT: dict[int, tuple[str, ...]] = {
    1: ("It broke within a week and I want my money back.", "This was a complete waste of money.",
        "Terrible quality, I regret buying it."),
    2: ("It is disappointing and feels cheap.", "Not worth the price, sadly.", "It works, but barely, and I expected more."),
    3: ("It is okay, nothing special.", "Average product, does the job.", "Some good points and some bad ones."),
    4: ("I am pleased with it overall.", "Good value and it works well.", "A solid purchase with minor flaws."),
    5: ("Absolutely love it, best purchase this year.", "Excellent quality, it exceeded my expectations.",
        "Perfect in every way, I would buy it again."),
}

NEUTRAL_SENTENCES: tuple[str, ...] = (
    "It arrived on time in a plain box.", "I have used it for about a month now.", "The instructions were short.",
    "It came in the color shown in the picture.", "I bought it after reading a few reviews.",
)

PERSONAS: tuple[str, ...] = (
    "As a busy parent", "As a weekend hiker", "As a retired teacher", "As a college student", "As a home cook",
    "As a night shift nurse", "As a dog owner", "As a small business owner", "As a new homeowner", "As a musician",
    "As a grandmother of four", "As a software developer",
)

PET_WORDS: tuple[str, ...] = (
    "honestly", "frankly", "truly", "basically", "definitely", "seriously", "literally", "genuinely", "totally",
    "admittedly", "clearly", "simply", "really", "certainly", "naturally", "overall",
)

SIGN_OFFS: tuple[str, ...] = (
    "Just my two cents.", "Hope this helps someone.", "That is all for now.", "Thanks for reading.",
    "Buyer beware.", "Take it from me.", "Cheers.", "You have been warned.", "Happy shopping.", "End of review.",
)

#: LaMP-2: per tag, plot phrases that suggest it.
TAG_PHRASES: dict[str, tuple[str, ...]] = {
    "sci-fi": ("a starship crew", "a signal from a distant planet", "a robot who learns to feel", "a colony on Mars"),
    "based on a book": ("a beloved novel", "the famous book series", "a story first told in print", "a classic memoir"),
    "comedy": ("a hopeless wedding planner", "a series of silly mix-ups", "a clumsy substitute teacher", "a prank gone too far"),
    "action": ("a high speed car chase", "a daring rescue mission", "an explosive heist", "a rogue special agent"),
    "twist ending": ("a secret revealed in the last scene", "a narrator who cannot be trusted", "a shocking final reveal", "an identity hidden until the end"),
    "dystopia": ("a city ruled by surveillance", "the last free people", "a regime that bans books", "a world after collapse"),
    "dark comedy": ("a funeral that goes wrong", "two bumbling hitmen", "a morbid family dinner", "a cursed inheritance"),
    "classic": ("a timeless Hollywood story", "black and white footage", "a golden age romance", "a legendary director"),
    "psychology": ("a troubled therapist", "a mind slowly unravelling", "haunting childhood memories", "a study of obsession"),
    "fantasy": ("a young wizard", "a dragon guarding gold", "an enchanted forest", "a quest for a magic ring"),
    "romance": ("two strangers falling in love", "a summer love affair", "a wedding in Paris", "childhood sweethearts reunited"),
    "thought-provoking": ("questions about free will", "the meaning of a life", "a moral dilemma", "the limits of memory"),
    "social commentary": ("inequality in a modern city", "workers on strike", "a corrupt media empire", "a divided small town"),
    "violence": ("a brutal gang war", "a bloody revenge", "a ruthless crime boss", "a massacre in the hills"),
    "true story": ("real events from 1969", "an incredible true survival", "the life of a real athlete", "a historic court case"),
}

MOVIE_OPENERS: tuple[str, ...] = (
    "This film follows", "The story centers on", "In this movie we meet", "A tale about", "The plot revolves around",
)

MOVIE_FILLERS: tuple[str, ...] = (
    "The cast gives strong performances.", "The music sets the mood.", "It runs a little over two hours.",
    "The cinematography is striking.", "Critics were divided when it came out.", "Several scenes were shot on location.",
)

#: LaMP-7: tweet topics → base tweets (neutral wording).
TWEET_TOPICS: dict[str, tuple[str, ...]] = {
    "coffee": ("just had the best coffee of the week", "need more coffee before the meeting", "trying a new coffee shop downtown"),
    "running": ("finished a long run this morning", "my legs hurt after the race", "signed up for another marathon"),
    "cats": ("my cat knocked everything off the table", "the cat is asleep on my keyboard again", "adopted a second kitten today"),
    "football": ("what a game last night", "our team finally won at home", "cannot believe that penalty call"),
    "coding": ("fixed the bug after three hours", "the build is broken again", "learning a new programming language"),
    "gardening": ("the tomatoes are finally ripe", "planted roses in the front yard", "the garden needs rain"),
    "music": ("this new album is on repeat", "going to a concert tonight", "learning a new song on guitar"),
    "travel": ("packing for a trip to the coast", "my flight got delayed again", "the mountains look amazing today"),
    "cooking": ("made soup from scratch tonight", "burned the pancakes again", "trying a new pasta recipe"),
    "weather": ("it will not stop raining today", "finally some sunshine", "the snow is piling up outside"),
}

HASHTAGS: tuple[str, ...] = (
    "#blessed", "#mondaymood", "#nofilter", "#lifegoals", "#weekendvibes", "#truestory", "#sorrynotsorry", "#grateful",
    "#justsaying", "#goodtimes", "#lol", "#winning",
)
EMOTICONS: tuple[str, ...] = (":)", ":D", ";)", "<3", ":P", "xD", "^_^", ":-)")
SLANG: dict[str, str] = {"you": "u", "are": "r", "great": "gr8", "tonight": "2nite", "to": "2", "for": "4", "really": "rly"}
TWEET_FILLERS: tuple[str, ...] = (
    "what a day", "anyway back to work", "more later", "so that happened", "cannot complain", "life is good",
)

#: LaMP-2: settings a user's favourite movies tend to share (beside the preferred tags).
MOVIE_SETTINGS: tuple[str, ...] = (
    "in nineteen seventies New York", "in a small Texas town", "during the Second World War", "in modern Tokyo",
    "on a remote Scottish island", "in Victorian London", "aboard a cruise ship", "in a snowy mountain village",
    "in the Australian outback", "in a Paris suburb", "at a boarding school", "in a Mumbai apartment block",
)
