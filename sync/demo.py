"""Deterministic demo data: five company systems that describe the same population.

The generator simulates the systems a retailer would connect to the customer card, each with
its own ids and formats:

``crm``      customer master: ``CRM-000123`` ids, full identity, address, preferences, consents,
             outbound campaigns and advisor calls;
``eshop``    web shop accounts: numeric ids, e-mail always present, orders with EUR amounts;
``loyalty``  loyalty programme: the card number is the id (``290410001234``), tier, VIP flag,
             store visits with amounts;
``support``  helpdesk: ``HD-004321`` contacts known by e-mail and/or phone and a single
             ``full_name``; tickets, calls, e-mails and chats;
``social``   social media team: ``SOC-001234`` contacts with handles, followers and posts.

The same real person appears in several systems with the variations real data has (typos,
nicknames, swapped names, upper case, dropped accents, phone formats, e-mail case, missing
fields), families share an e-mail or a landline, and about ``duplicate_rate`` of the persons
have a second account in one system. :meth:`DemoGenerator.truth` says which person every
customer record belongs to, so matching quality can be measured.

Everything is streamed: persons are generated one household at a time from one seeded
``random.Random`` and rendered into records from a second one, so :meth:`DemoGenerator.truth`
replays the first stream alone and agrees with :meth:`DemoGenerator.records`. Faker only fills
name and street pools once per seed; the hot path never calls it.
"""

from __future__ import annotations

import csv
import math
import random
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from itertools import accumulate, count
from pathlib import Path
from typing import Any, ClassVar, TextIO, TypeVar

from faker import Faker

from sync.records import RecordKind, SourceRecord

_T = TypeVar("_T")

SOURCES: tuple[str, ...] = ("crm", "eshop", "loyalty", "support", "social")
CONSENT_PURPOSES: tuple[str, ...] = (
    "contact_email",
    "contact_sms",
    "contact_phone",
    "marketing_email",
    "profiling",
)
CONTACT_PURPOSES: tuple[str, ...] = ("contact_email", "contact_sms", "contact_phone")
_DO_NOT_CONTACT = (*CONTACT_PURPOSES, "marketing_email")

_CET = timezone(timedelta(hours=1))
_CEST = timezone(timedelta(hours=2))
DEFAULT_NOW = datetime(2026, 11, 1, 12, 0, tzinfo=_CET)

_JOCELYNE = 1  # person number of the demo's main character
#: Interactions of the person used for performance tests (when ``customers >= 1000``).
HEAVY_INTERACTIONS = 20_000


@dataclass(frozen=True)
class DemoConfig:
    customers: int = 2000
    """Number of real persons (the notable persons included)."""
    seed: int = 42
    now: datetime = DEFAULT_NOW
    """Nothing happens after this instant; fixed so that output is deterministic."""
    duplicate_rate: float = 0.10
    """Share of persons who have a second account in one system."""
    family_email_rate: float = 0.35
    """Share of multi-person households whose members share one e-mail address."""
    mean_interactions: float = 10.0
    """Mean interactions per person, heavy-tailed (the notable persons come on top)."""

    def __post_init__(self) -> None:
        if self.customers < 0:
            raise ValueError("customers must be >= 0")
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        for name in ("duplicate_rate", "family_email_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.mean_interactions < 1.0:
            raise ValueError("mean_interactions must be >= 1")


# --------------------------------------------------------------------------------------------
# Reference tables (hand-written: real French cities, the retailer's stores, vocabulary)
# --------------------------------------------------------------------------------------------

# city, postcodes, landline prefix, nearest store, weight (roughly the population)
_CITIES: tuple[tuple[str, tuple[str, ...], str, str, int], ...] = (
    ("Paris", tuple(f"750{i:02d}" for i in range(1, 21)), "01", "Paris Opéra", 60),
    ("Lyon", tuple(f"6900{i}" for i in range(1, 10)), "04", "Lyon Part-Dieu", 20),
    ("Marseille", tuple(f"130{i:02d}" for i in range(1, 17)), "04", "Marseille La Valentine", 20),
    (
        "Toulouse",
        ("31000", "31100", "31200", "31300", "31400", "31500"),
        "05",
        "Toulouse Wilson",
        12,
    ),
    ("Nice", ("06000", "06100", "06200", "06300"), "04", "Nice Cap 3000", 9),
    ("Nantes", ("44000", "44100", "44200", "44300"), "02", "Nantes Atlantis", 8),
    ("Strasbourg", ("67000", "67100", "67200"), "03", "Strasbourg Kléber", 7),
    ("Montpellier", ("34000", "34070", "34080", "34090"), "04", "Montpellier Odysseum", 7),
    (
        "Bordeaux",
        ("33000", "33100", "33200", "33300", "33800"),
        "05",
        "Bordeaux Sainte-Catherine",
        7,
    ),
    ("Lille", ("59000", "59160", "59260", "59800"), "03", "Lille Euralille", 6),
    ("Rennes", ("35000", "35200", "35700"), "02", "Rennes Colombia", 5),
    ("Reims", ("51100",), "03", "Paris Opéra", 4),
    ("Saint-Étienne", ("42000", "42100"), "04", "Lyon Part-Dieu", 4),
    ("Toulon", ("83000", "83100", "83200"), "04", "Marseille La Valentine", 4),
    ("Le Havre", ("76600", "76610", "76620"), "02", "Paris Opéra", 4),
    ("Grenoble", ("38000", "38100"), "04", "Grenoble Grand'Place", 4),
    ("Dijon", ("21000",), "03", "Lyon Part-Dieu", 4),
    ("Angers", ("49000", "49100"), "02", "Nantes Atlantis", 4),
    ("Nîmes", ("30000", "30900"), "04", "Montpellier Odysseum", 4),
    ("Villeurbanne", ("69100",), "04", "Lyon Part-Dieu", 4),
    ("Clermont-Ferrand", ("63000", "63100"), "04", "Lyon Part-Dieu", 4),
    ("Aix-en-Provence", ("13090", "13100"), "04", "Marseille La Valentine", 4),
    ("Le Mans", ("72000", "72100"), "02", "Rennes Colombia", 4),
    ("Brest", ("29200",), "02", "Rennes Colombia", 3),
    ("Tours", ("37000", "37100", "37200"), "02", "Nantes Atlantis", 3),
    ("Limoges", ("87000", "87100"), "05", "Bordeaux Sainte-Catherine", 3),
    ("Amiens", ("80000", "80080", "80090"), "03", "Lille Euralille", 3),
    ("Metz", ("57000", "57050", "57070"), "03", "Strasbourg Kléber", 3),
    ("Perpignan", ("66000", "66100"), "04", "Montpellier Odysseum", 3),
    ("Boulogne-Billancourt", ("92100",), "01", "Paris La Défense", 3),
    ("Nanterre", ("92000",), "01", "Paris La Défense", 2),
    ("Versailles", ("78000",), "01", "Paris La Défense", 2),
    ("Montreuil", ("93100",), "01", "Paris Opéra", 2),
    ("Saint-Denis", ("93200", "93210"), "01", "Paris Opéra", 2),
    ("Vincennes", ("94300",), "01", "Paris Opéra", 1),
    ("Rouen", ("76000", "76100"), "02", "Paris Opéra", 3),
    ("Caen", ("14000",), "02", "Rennes Colombia", 2),
    ("Nancy", ("54000", "54100"), "03", "Strasbourg Kléber", 2),
    ("Roubaix", ("59100",), "03", "Lille Euralille", 2),
    ("Tourcoing", ("59200",), "03", "Lille Euralille", 2),
    ("Annecy", ("74000",), "04", "Grenoble Grand'Place", 2),
    ("Avignon", ("84000",), "04", "Montpellier Odysseum", 2),
    ("Pau", ("64000",), "05", "Toulouse Wilson", 2),
    ("Bayonne", ("64100",), "05", "Bordeaux Sainte-Catherine", 1),
    ("La Rochelle", ("17000",), "05", "Bordeaux Sainte-Catherine", 1),
)
# Belgian customers (a few): mobiles only, +32 numbers.
_BE_CITIES: tuple[tuple[str, tuple[str, ...], str, str, int], ...] = (
    ("Bruxelles", ("1000", "1050", "1180"), "", "Lille Euralille", 3),
    ("Liège", ("4000", "4020"), "", "Lille Euralille", 1),
    ("Namur", ("5000",), "", "Lille Euralille", 1),
)
_CITY_CUM = tuple(accumulate(c[4] for c in _CITIES))
_BE_CUM = tuple(accumulate(c[4] for c in _BE_CITIES))
_CITY_BY_NAME = {c[0]: c for c in _CITIES}
_STORES: tuple[str, ...] = tuple(sorted({c[3] for c in _CITIES}))

# Number blocks that are really allocated to mobiles, so phone validators accept them.
_FR_MOBILE_BLOCKS = (*(f"6{d}" for d in "0124567788"), *(f"7{d}" for d in "3456789"))
_BE_MOBILE_BLOCKS = ("455", "456", "460", "468", *(f"47{d}" for d in "0123456789"), "485", "486")

_EMAIL_DOMAINS = (
    "gmail.com",
    "orange.fr",
    "free.fr",
    "hotmail.fr",
    "yahoo.fr",
    "sfr.fr",
    "laposte.net",
    "outlook.fr",
    "wanadoo.fr",
    "icloud.com",
    "hotmail.com",
    "live.fr",
)
_EMAIL_DOMAIN_CUM = tuple(accumulate((30, 18, 12, 9, 6, 5, 5, 4, 4, 3, 2, 2)))
_WORK_DOMAINS = ("sncf.fr", "laposte.fr", "airbus.com", "ac-lyon.fr", "aphp.fr", "edf.fr", "axa.fr")

_INTERESTS = (
    "mode femme",
    "mode homme",
    "enfants",
    "chaussures",
    "maison",
    "décoration",
    "high-tech",
    "sport",
    "beauté",
    "jardinage",
    "cuisine",
    "voyage",
    "livres",
    "bijoux",
)
_PREFERRED_CHANNELS = ("email", "phone", "sms", "store", "web")
_PREFERRED_CHANNEL_CUM = tuple(accumulate((40, 20, 15, 15, 10)))

# Compound given names are rare in Faker's pools but common among French customers.
_COMPOUND_FEMALE = ("Marie-Claire", "Anne-Sophie", "Marie-Hélène", "Marie-Christine", "Anne-Marie")
_COMPOUND_MALE = (
    "Jean-Pierre",
    "Jean-Luc",
    "Jean-Marc",
    "Jean-Claude",
    "Jean-François",
    "Pierre-Yves",
)
_DIVERSE_FEMALE = ("Inès", "Yasmine", "Nadia", "Amina", "Leïla", "Fatou", "Linh", "Samia", "Karima")
_DIVERSE_MALE = (
    "Karim",
    "Mehdi",
    "Sofiane",
    "Nabil",
    "Moussa",
    "Yanis",
    "Rachid",
    "Mamadou",
    "Youssef",
)
_DIVERSE_FAMILY = (
    "Kaddour",
    "Benali",
    "Haddad",
    "Mansouri",
    "Belkacem",
    "Diallo",
    "Traoré",
    "Nguyen",
    "Tran",
    "Da Silva",
    "Dos Santos",
    "Ferreira",
    "Cohen",
    "Benhamou",
    "Lopez",
    "Garcia",
    "Martinez",
    "Rodrigues",
)
# it_IT is left out: its Faker provider takes half a second to import.
_FOREIGN_LOCALES = (("en", "en_GB"), ("es", "es_ES"), ("pt", "pt_PT"), ("de", "de_DE"))

_NICKNAMES: dict[str, tuple[str, ...]] = {
    "Catherine": ("Cathy", "Cath"),
    "Nathalie": ("Nath", "Nat"),
    "Isabelle": ("Isa", "Babeth"),
    "Élisabeth": ("Babeth", "Élise"),
    "Frédéric": ("Fred",),
    "Frédérique": ("Fred",),
    "Christophe": ("Chris",),
    "Christine": ("Chris", "Tina"),
    "Alexandre": ("Alex",),
    "Alexandra": ("Alex",),
    "Nicolas": ("Nico",),
    "Dominique": ("Dom",),
    "Philippe": ("Phil",),
    "Stéphane": ("Steph",),
    "Stéphanie": ("Steph", "Fanny"),
    "Sébastien": ("Seb", "Séb"),
    "Thomas": ("Tom",),
    "Maxime": ("Max",),
    "Benjamin": ("Ben",),
    "Anthony": ("Tony",),
    "Antoine": ("Tony",),
    "Matthieu": ("Matt",),
    "Mathieu": ("Matt",),
    "Valérie": ("Val",),
    "Valentin": ("Val",),
    "Caroline": ("Caro",),
    "Virginie": ("Virgi",),
    "Sandrine": ("Sandy",),
    "Jocelyne": ("Jo", "Jojo"),
    "Véronique": ("Véro",),
    "Patrick": ("Pat",),
    "Patricia": ("Pat", "Patou"),
    "Jacqueline": ("Jackie",),
    "Françoise": ("Fanfan",),
    "Emmanuel": ("Manu",),
    "Emmanuelle": ("Manue",),
    "Marguerite": ("Margot",),
    "Bernard": ("Nanard",),
    "Thierry": ("Titi",),
    "Guillaume": ("Guigui",),
    "Monique": ("Momo",),
    "Daniel": ("Dan", "Dany"),
    "Danielle": ("Dany",),
    "Michèle": ("Micha",),
    "Sophie": ("Soso",),
}

_TICKET_TOPICS: tuple[tuple[str, str], ...] = (
    (
        "remboursement",
        "Demande de remboursement d'un article retourné il y a plus de deux semaines.",
    ),
    ("retard de livraison", "Colis annoncé livré mais non reçu ; enquête transporteur demandée."),
    ("produit défectueux", "Article défectueux à réception, photos jointes au ticket."),
    ("échange de taille", "Souhaite échanger contre la taille au-dessus, article non porté."),
    ("facture introuvable", "Ne trouve pas la facture dans son espace client."),
    (
        "points fidélité non crédités",
        "Les points du dernier achat en magasin ne sont pas crédités.",
    ),
    ("annulation de commande", "Demande l'annulation d'une commande passée par erreur."),
    ("problème de connexion", "Mot de passe oublié, le lien de réinitialisation a expiré."),
    (
        "modification d'adresse",
        "Nouvelle adresse de livraison à enregistrer après un déménagement.",
    ),
    ("réclamation magasin", "Mécontentement sur l'attente en caisse, souhaite être rappelé·e."),
    ("code promo refusé", "Le code reçu par e-mail est refusé au paiement."),
    ("double prélèvement", "Deux débits constatés pour la même commande."),
)
_CALL_IN = (
    "question sur la livraison",
    "suivi de commande",
    "demande de remboursement",
    "horaires du magasin",
    "perte de la carte de fidélité",
    "disponibilité d'un article",
    "contestation d'un prélèvement",
    "prise de rendez-vous en magasin",
    "modification de commande",
)
_CALL_OUT = (
    "proposition de geste commercial",
    "confirmation de remboursement",
    "enquête de satisfaction",
    "article réservé disponible en magasin",
)
_EMAIL_IN = (
    "demande de facture",
    "question sur un retour",
    "réclamation colis endommagé",
    "demande de devis",
    "changement d'adresse e-mail",
)
_EMAIL_OUT = (
    "confirmation d'échange",
    "bon d'achat de 10 € offert",
    "accusé de réception de la réclamation",
    "étiquette de retour prépayée",
)
_CHAT = (
    "disponibilité d'un article en magasin",
    "code promo refusé",
    "suivi de colis",
    "conseil de taille",
    "retour d'un article offert",
)
_SOCIAL_IN = (
    "Super accueil au magasin de {city} aujourd'hui 👏",
    "Toujours pas reçu ma commande, c'est long…",
    "Vous avez encore la veste en taille M ?",
    "Merci pour le geste commercial !",
    "Déçue par la qualité du dernier achat 😕",
    "Les soldes commencent quand ?",
    "J'adore la nouvelle collection 😍",
    "Impossible de me connecter à mon compte depuis hier",
    "Service client au top, problème réglé en 5 minutes",
    "Livraison rapide, rien à redire",
)
_SOCIAL_OUT = (
    "demande du numéro de commande en message privé",
    "remerciements",
    "redirection vers le service client",
    "annonce des dates des soldes",
)
_SPONSORED = (
    "Publication sponsorisée : haul de la nouvelle collection",
    "Story mentionnant la marque",
    "Partenariat : code promo {code}",
    "Vidéo « essayage » avec lien vers l'e-shop",
)
_CAMPAIGNS = (
    "Soldes d'hiver",
    "Soldes d'été",
    "Vente privée fidélité",
    "Nouvelle collection printemps",
    "Black Friday",
    "Fête des mères",
    "Rentrée",
    "Noël : idées cadeaux",
    "Anniversaire : -15 % offerts",
)
_ADVISOR_CALLS = (
    "invitation à la vente privée",
    "point annuel avec le conseiller",
    "relance panier abandonné",
    "présentation du programme fidélité",
)
_DELIVERY = ("Livraison à domicile", "Point relais", "Livraison express", "Retrait en magasin")

# The retailer's catalogue (a department store: fashion, home, beauty, tech, sport):
# sku, name, category, price in cents. Sorted by price: an order's lines are drawn near the
# price its amount allows per article.
_CATALOGUE: tuple[tuple[str, str, str, int], ...] = tuple(
    sorted(
        (
            ("BEA-1021", "Baume à lèvres karité", "Beauté", 590),
            ("LIV-3310", "Roman poche « Les Heures claires »", "Livres", 790),
            ("ENF-2204", "Chaussettes enfant lot de 5", "Enfants", 990),
            ("CUI-4102", "Torchons coton lot de 3", "Cuisine", 1290),
            ("HOM-1150", "T-shirt col rond coton bio", "Mode homme", 1499),
            ("FEM-1308", "Foulard imprimé fleurs", "Mode femme", 1990),
            ("MAI-5203", "Bougie parfumée figue", "Décoration", 2290),
            ("JAR-6001", "Kit de semis aromatiques", "Jardinage", 2490),
            ("BEA-1044", "Crème hydratante visage 50 ml", "Beauté", 2890),
            ("SPO-7012", "Gourde isotherme 750 ml", "Sport", 2990),
            ("ENF-2230", "Pyjama enfant dinosaures", "Enfants", 2990),
            ("FEM-1322", "Pull col V mérinos", "Mode femme", 3990),
            ("HTE-8044", "Câble USB-C tressé 2 m", "High-tech", 1990),
            ("HOM-1174", "Chemise oxford slim", "Mode homme", 4990),
            ("MAI-5240", "Parure de lit percale 240×220", "Maison", 5990),
            ("BEA-1090", "Eau de parfum 50 ml", "Beauté", 6990),
            ("SPO-7045", "Tapis de yoga antidérapant", "Sport", 3490),
            ("FEM-1360", "Robe portefeuille fluide", "Mode femme", 7990),
            ("CHA-9012", "Baskets cuir blanches", "Chaussures", 8990),
            ("HOM-1199", "Jean brut coupe droite", "Mode homme", 6990),
            ("CUI-4150", "Cocotte fonte 24 cm", "Cuisine", 11900),
            ("CHA-9040", "Bottines cuir à talon", "Chaussures", 12900),
            ("HTE-8102", "Casque audio sans fil", "High-tech", 14900),
            ("FEM-1391", "Trench-coat beige", "Mode femme", 16900),
            ("SPO-7090", "Chaussures de trail", "Sport", 13900),
            ("MAI-5288", "Lampe de table laiton", "Décoration", 18900),
            ("HOM-1230", "Blazer laine", "Mode homme", 22900),
            ("BIJ-9512", "Bracelet argent 925", "Bijoux", 8900),
            ("HTE-8150", "Montre connectée", "High-tech", 29900),
            ("CUI-4199", "Robot pâtissier", "Cuisine", 34900),
            ("FEM-1420", "Sac cabas cuir grainé", "Mode femme", 49000),
            ("HOM-1290", "Manteau cachemire", "Mode homme", 89000),
            ("HTE-8210", "Ordinateur portable 14 pouces", "High-tech", 129900),
            ("BIJ-9560", "Collier or jaune 18 carats", "Bijoux", 115000),
            ("MAI-5350", "Canapé 3 places velours", "Maison", 149000),
            ("HTE-8260", "Téléviseur OLED 65 pouces", "High-tech", 219000),
            ("BIJ-9601", "Montre automatique acier", "Bijoux", 240000),
            ("BIJ-9640", "Bague solitaire diamant 0,5 ct", "Bijoux", 390000),
        ),
        key=lambda product: product[3],
    )
)
_CATALOGUE_PRICES = tuple(product[3] for product in _CATALOGUE)

# Share of a person's interactions that each system holds (normalised over their systems).
_SYSTEM_WEIGHTS = {"crm": 0.06, "eshop": 0.36, "loyalty": 0.32, "support": 0.16, "social": 0.10}
_INFLUENCER_WEIGHTS = {"crm": 0.05, "eshop": 0.0, "loyalty": 0.0, "support": 0.10, "social": 0.85}
# Which system gets the second account of a duplicated person.
_DUPLICATE_WEIGHTS = {"crm": 1.0, "eshop": 3.0, "loyalty": 2.0, "support": 3.0, "social": 1.0}
# Consent purposes each system records.
_SOURCE_PURPOSES = {
    "crm": CONSENT_PURPOSES,
    "eshop": ("marketing_email", "profiling"),
    "loyalty": ("contact_sms", "marketing_email"),
}
# granted, denied (the remainder is withdrawn)
_CONSENT_RATES = {
    "contact_email": (0.85, 0.10),
    "contact_sms": (0.65, 0.28),
    "contact_phone": (0.70, 0.25),
    "marketing_email": (0.55, 0.30),
    "profiling": (0.40, 0.50),
}
# Per system: probability of a typo, dropped accents, a nickname, swapped names, upper-case
# family name.
_NAME_NOISE = {
    "crm": (0.03, 0.05, 0.02, 0.02, 0.15),
    "eshop": (0.05, 0.30, 0.08, 0.03, 0.05),
    "loyalty": (0.05, 0.50, 0.03, 0.04, 0.70),
    "support": (0.05, 0.30, 0.06, 0.03, 0.10),
    "social": (0.04, 0.40, 0.20, 0.00, 0.00),
}
# How often each system holds a field the person has.
_BIRTH_DATE_SHARE = {"crm": 0.95, "eshop": 0.4, "loyalty": 0.85}
_ADDRESS_SHARE = {"crm": 0.97, "eshop": 0.85, "loyalty": 0.5, "support": 0.0, "social": 0.0}
_MOBILE_SHARE = {"crm": 0.95, "eshop": 0.6, "loyalty": 0.8, "support": 0.6, "social": 0.03}
_LANDLINE_SHARE = {"crm": 0.8, "support": 0.35, "loyalty": 0.35}
# Phone styles each system tends to produce, with weights.
_PHONE_STYLES: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "crm": (("spaced", "intl", "compact"), (0.7, 0.9, 1.0)),
    "eshop": (("e164", "intl", "compact"), (0.5, 0.75, 1.0)),
    "loyalty": (("compact", "spaced", "dots"), (0.6, 0.9, 1.0)),
    "support": (("dots", "00", "intl", "spaced", "dashes"), (0.3, 0.55, 0.75, 0.95, 1.0)),
    "social": (("e164", "spaced"), (0.5, 1.0)),
}

_FOLD_TABLE = str.maketrans(
    {
        c: unicodedata.normalize("NFKD", c)[0]
        for c in "àâäáãåçéèêëíìîïñóòôöõúùûüýÿÀÂÄÁÃÅÇÉÈÊËÍÌÎÏÑÓÒÔÖÕÚÙÛÜÝŸ"
    }
    | {"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"}
)
_HANDLE_DROP = str.maketrans("", "", " '-.")


def fold_accents(text: str) -> str:
    """``"Hélène"`` → ``"Helene"``: what keyboards without accents and old systems produce."""
    return text.translate(_FOLD_TABLE)


# --------------------------------------------------------------------------------------------
# Pools filled once per seed by Faker
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NamePool:
    language: str
    female: tuple[str, ...]
    female_cum: tuple[float, ...]
    male: tuple[str, ...]
    male_cum: tuple[float, ...]
    family: tuple[str, ...]
    family_cum: tuple[float, ...]


@dataclass(frozen=True)
class _Pools:
    french: _NamePool
    diverse: _NamePool
    foreign: tuple[_NamePool, ...]
    streets: tuple[str, ...]


def _unique(make: Callable[[], str], want: int, tries: int) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for _ in range(tries):
        seen[make()] = None
        if len(seen) >= want:
            break
    return tuple(seen)


def _zipf_cum(size: int, flatness: float) -> tuple[float, ...]:
    """Cumulative weights where the first names of a pool are the most frequent."""
    return tuple(accumulate(1.0 / (rank + flatness) for rank in range(size)))


def _pool(
    language: str, female: Sequence[str], male: Sequence[str], family: Sequence[str]
) -> _NamePool:
    return _NamePool(
        language,
        tuple(female),
        _zipf_cum(len(female), 8.0),
        tuple(male),
        _zipf_cum(len(male), 8.0),
        tuple(family),
        _zipf_cum(len(family), 15.0),
    )


@lru_cache(maxsize=4)
def _pools(seed: int) -> _Pools:
    fake = Faker("fr_FR")
    fake.seed_instance(seed)
    female = list(_unique(fake.first_name_female, 150, 3000))
    male = list(_unique(fake.first_name_male, 150, 3000))
    # Compound names take ranks 3, 9, 15 … so a few of them are common.
    for i, name in enumerate(_COMPOUND_FEMALE):
        female.insert(min(len(female), 3 + 6 * i), name)
    for i, name in enumerate(_COMPOUND_MALE):
        male.insert(min(len(male), 3 + 6 * i), name)
    family = _unique(fake.last_name, 400, 6000)
    streets = _unique(fake.street_name, 600, 3000)
    french = _pool("fr", female, male, family)
    diverse = _pool("fr", _DIVERSE_FEMALE, _DIVERSE_MALE, _DIVERSE_FAMILY)
    foreign = []
    for language, locale in _FOREIGN_LOCALES:
        other = Faker(locale)
        other.seed_instance(seed)
        foreign.append(
            _pool(
                language,
                _unique(other.first_name_female, 40, 400),
                _unique(other.first_name_male, 40, 400),
                _unique(other.last_name, 60, 600),
            )
        )
    return _Pools(french, diverse, tuple(foreign), streets)


# --------------------------------------------------------------------------------------------
# Persons (the ground truth) and their accounts
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Account:
    source: str
    source_id: str
    since: int
    """Date ordinal of the account's creation."""
    duplicate: bool = False


@dataclass(slots=True)
class _Person:
    number: int
    female: bool
    given: str
    family: str
    birth: date
    emails: tuple[str, ...]
    mobile: str | None
    landline: str | None
    country: str
    street: str
    postcode: str
    city: str
    store: str
    language: str
    since: int
    profile: str = "regular"  # regular, vip, influencer, dnc, notable
    interactions: int = 0
    per_system: dict[str, int] | None = None
    accounts: list[_Account] = field(default_factory=list)
    tier: str = "bronze"
    vip: bool = False
    twitter: str | None = None
    instagram: str | None = None
    followers: int = 0
    interests: tuple[str, ...] = ()
    preferred_channel: str = "email"
    consents: dict[str, str] | None = None
    open_ticket: bool = False
    open_order: bool = False
    notable: bool = False

    @property
    def card(self) -> str | None:
        for account in self.accounts:
            if account.source == "loyalty" and not account.duplicate:
                return account.source_id
        return None


@dataclass(slots=True)
class _Household:
    pool: _NamePool
    family: str
    street: str
    postcode: str
    city: str
    store: str
    country: str
    landline: str | None
    share_email: bool


class _Ids:
    """Per-source ids that grow with gaps, like real sequences with deleted rows."""

    _STEP: ClassVar[dict[str, int]] = {
        "crm": 3,
        "eshop": 9,
        "loyalty": 40,
        "support": 4,
        "social": 5,
    }

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._last = {
            "crm": 100,
            "eshop": 100_000,
            "loyalty": 10_000_000,
            "support": 1_000,
            "social": 500,
        }

    def new(self, source: str) -> str:
        n = self._last[source] + self._rng.randint(1, self._STEP[source])
        self._last[source] = n
        if source == "crm":
            return f"CRM-{n:06d}"
        if source == "eshop":
            return str(n)
        if source == "loyalty":
            return f"2904{n:08d}"
        if source == "support":
            return f"HD-{n:06d}"
        return f"SOC-{n:06d}"


@dataclass(slots=True)
class _Registry:
    """Identifiers already given to someone: real e-mails, phones and handles are unique."""

    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    handles: set[str] = field(default_factory=set)


def _ascii_name(text: str) -> str:
    return fold_accents(text).lower().translate(_HANDLE_DROP)


# --------------------------------------------------------------------------------------------
# Variations
# --------------------------------------------------------------------------------------------


def _typo(rng: random.Random, text: str) -> str:
    """Swap, drop or double one letter (never the first: people get that one right)."""
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 1)
    if not text[i].isalpha():
        return text
    op = rng.random()
    if op < 0.4 and text[i + 1].isalpha():
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if op < 0.7:
        return text[:i] + text[i + 1 :]
    return text[: i + 1] + text[i:]


def _nickname(rng: random.Random, given: str) -> str:
    if "-" in given:
        parts = given.split("-")
        forms = ("".join(p[0] for p in parts), " ".join(parts), "-".join(p[0] for p in parts))
        return rng.choice(forms)
    short = _NICKNAMES.get(given)
    return rng.choice(short) if short else given


def _vary_name(
    rng: random.Random, person: _Person, source: str, duplicate: bool
) -> tuple[str, str]:
    typo, fold, nick, swap, upper = _NAME_NOISE[source]
    if duplicate:
        typo, nick, swap = typo * 4, nick * 3, swap * 3
    given, family = person.given, person.family
    if rng.random() < nick:
        given = _nickname(rng, given)
    if rng.random() < typo:
        if rng.random() < 0.5:
            given = _typo(rng, given)
        else:
            family = _typo(rng, family)
    if rng.random() < fold:
        given, family = fold_accents(given), fold_accents(family)
    if rng.random() < upper:
        family = family.upper()
    if rng.random() < swap:
        given, family = family, given
    return given, family


def _email_case(rng: random.Random, email: str) -> str:
    r = rng.random()
    local, _, domain = email.partition("@")
    if r < 0.5:
        return ".".join(part.capitalize() for part in local.split(".")) + "@" + domain
    if r < 0.8:
        return email[0].upper() + email[1:]
    return email.upper()


def _format_phone(country: str, national: str, style: str) -> str:
    rest = national[1:]
    groups: tuple[str, ...]
    intl: tuple[str, ...]
    if country == "BE":
        cc = "32"
        groups = (national[:4], national[4:6], national[6:8], national[8:])
        intl = (rest[:3], rest[3:5], rest[5:7], rest[7:])
    else:
        cc = "33"
        groups = tuple(national[i : i + 2] for i in range(0, 10, 2))
        intl = (rest[0], *(rest[i : i + 2] for i in range(1, 9, 2)))
    if style == "spaced":
        return " ".join(groups)
    if style == "intl":
        return f"+{cc} " + " ".join(intl)
    if style == "e164":
        return f"+{cc}{rest}"
    if style == "00":
        return f"00{cc}{rest}"
    if style == "dots":
        return ".".join(groups)
    if style == "dashes":
        return "-".join(groups)
    return national


def _phone_style(rng: random.Random, source: str) -> str:
    styles, cum = _PHONE_STYLES[source]
    return rng.choices(styles, cum_weights=cum)[0]


def _vary_street(rng: random.Random, street: str) -> str:
    r = rng.random()
    if r < 0.12:
        number, _, rest = street.partition(" ")
        return f"{number}, {rest}"
    if r < 0.22:
        return street.upper()
    if r < 0.30:
        return (
            street.replace(" avenue ", " av. ")
            .replace(" boulevard ", " bd ")
            .replace(" rue ", " r. ")
            .replace(" chemin ", " ch. ")
        )
    return street


def _card_format(rng: random.Random, card: str, source: str) -> str:
    groups = f"{card[:4]} {card[4:8]} {card[8:]}"
    if source == "loyalty":
        return f"FID {groups}"
    return rng.choice((card, groups, f"FID {groups}", f"FID{card}", groups.replace(" ", "-")))


def _between(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint`` without its overhead (the hot path draws millions of these)."""
    return low + int(rng.random() * (high - low + 1))


def _pick(rng: random.Random, items: Sequence[_T]) -> _T:
    return items[int(rng.random() * len(items))]


def _amount(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _product_near(rng: random.Random, cents: int, taken: set[str]) -> tuple[str, str, str, int]:
    """A catalogue product priced near ``cents`` (one of the few nearest, not yet in the order)."""
    at = bisect_left(_CATALOGUE_PRICES, cents)
    near = sorted(
        (p for p in _CATALOGUE[max(0, at - 3) : at + 3] if p[0] not in taken),
        key=lambda p: abs(p[3] - cents),
    )[:3] or [p for p in _CATALOGUE if p[0] not in taken]
    return _pick(rng, near)


def _line(product: tuple[str, str, str, int], quantity: int, unit_cents: int) -> dict[str, Any]:
    sku, name, category, _ = product
    return {
        "sku": sku,
        "name": name,
        "category": category,
        "quantity": quantity,
        "unit_price": _amount(unit_cents),
    }


def _order_lines(rng: random.Random, articles: int, total: int) -> list[dict[str, Any]]:
    """Up to five lines for ``articles`` articles whose amounts add up to ``total`` cents:
    products at their catalogue price, the last one (one article) at what is left."""
    count = 1 if articles == 1 else 2 + min(int(rng.random() * 4), articles - 2)
    quantities = [1] * count
    for _ in range(articles - count):  # the extra articles go to the lines before the last
        quantities[int(rng.random() * (count - 1))] += 1
    per_article = total / articles
    taken: set[str] = set()
    lines: list[dict[str, Any]] = []
    spent = 0
    for quantity in quantities[:-1]:
        product = _product_near(rng, int(per_article * (0.6 + rng.random() * 0.6)), taken)
        if spent + product[3] * quantity > total - max(100, int(per_article * 0.3)):
            break  # too dear for what is left: the rest goes on the last line
        taken.add(product[0])
        lines.append(_line(product, quantity, product[3]))
        spent += product[3] * quantity
    rest = total - spent
    lines.append(_line(_product_near(rng, rest, taken), 1, rest))
    return lines


def _price(rng: random.Random, euros: float) -> int:
    """Cents of a plausible price tag near ``euros`` (…,90 / …,99 / …,00 / …,50)."""
    return max(1, int(euros)) * 100 + _pick(rng, (90, 99, 0, 50, 95, 0, 90))


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


# renders the interactions an account holds on the given days
_Events = Callable[
    ["DemoGenerator", random.Random, _Person, _Account, list[int], dict[str, Iterator[int]]],
    Iterator[SourceRecord],
]


class DemoGenerator:
    """Streams the demo records of the five systems and the ground truth behind them."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self._pools = _pools(config.seed)
        now_utc = config.now.astimezone(UTC)
        # Generated moments fall on days up to ``last_day`` (local times, at most 23:59+01:00),
        # which always end before ``now`` whatever its offset.
        self._last_day = (now_utc - timedelta(days=1)).date().toordinal()
        self._first_day = self._last_day - 16 * 366
        self._days = [self._day_info(d) for d in range(self._first_day, self._last_day + 1)]
        # Lognormal parameters so that persons average about ``mean_interactions``: VIPs and
        # influencers add about 0.7 to what ordinary persons have; 20 % of these have none.
        self._sigma = 1.5
        ordinary = max(config.mean_interactions - 0.7, 0.5)
        self._mu = math.log(max(ordinary / 0.8 - 0.5, 0.5)) - self._sigma**2 / 2

    # ---- public API ------------------------------------------------------------------------

    def records(self) -> Iterator[SourceRecord]:
        """Every record of every system, person by person.

        Within each source a customer record always comes before the consents and
        interactions that refer to it.
        """
        rng = random.Random(f"events:{self.config.seed}")
        numbers: dict[str, Iterator[int]] = {
            prefix: count(start)
            for prefix, start in (
                ("ORD", 40_001),
                ("VIS", 700_001),
                ("TCK", 8_001),
                ("CALL", 300_001),
                ("MAIL", 500_001),
                ("CHAT", 90_001),
                ("POST", 60_001),
                ("ACT", 1_000_001),
                ("RCPT", 1_000_001),
            )
        }
        for person in self._people():
            for account in person.accounts:
                yield SourceRecord(
                    account.source,
                    account.source_id,
                    RecordKind.CUSTOMER,
                    self._customer_fields(rng, person, account),
                    updated_at=self._moment(
                        rng, _between(rng, account.since, self._last_day), 480, 1320
                    ),
                )
            yield from self._consents(rng, person)
            yield from self._interactions(rng, person, numbers)

    def truth(self) -> Iterator[tuple[str, str, int]]:
        """``(source, source_id, person)`` for every customer record of :meth:`records`."""
        for person in self._people():
            for account in person.accounts:
                yield account.source, account.source_id, person.number

    def write_truth_csv(self, target: TextIO | str | Path) -> int:
        """Write the ground truth as CSV (``source,source_id,person``); returns the row count."""
        if isinstance(target, str | Path):
            with Path(target).open("w", newline="", encoding="utf-8") as handle:
                return self.write_truth_csv(handle)
        writer = csv.writer(target, lineterminator="\n")
        writer.writerow(("source", "source_id", "person"))
        rows = 0
        for row in self.truth():
            writer.writerow(row)
            rows += 1
        return rows

    # ---- time -------------------------------------------------------------------------------

    @staticmethod
    def _day_info(ordinal: int) -> tuple[int, int, int, timezone]:
        day = date.fromordinal(ordinal)
        year = day.year
        march, october = date(year, 3, 31).toordinal(), date(year, 10, 31).toordinal()
        dst_start = march - (date.fromordinal(march).weekday() + 1) % 7
        dst_end = october - (date.fromordinal(october).weekday() + 1) % 7
        # Times are generated after 07:00 local, so the switch day is entirely on its new side.
        tz = _CEST if dst_start <= ordinal < dst_end else _CET
        return year, day.month, day.day, tz

    def _moment(
        self, rng: random.Random, day: int, first_minute: int, last_minute: int
    ) -> datetime:
        """An aware Paris-time datetime on ``day`` (ordinal) between two minutes of the day."""
        year, month, dom, tz = self._days[day - self._first_day]
        minute = first_minute + int(rng.random() * (last_minute - first_minute + 1))
        second = int(rng.random() * 60)
        return datetime(year, month, dom, minute // 60, minute % 60, second, tzinfo=tz)

    # ---- persons -----------------------------------------------------------------------------

    def _people(self) -> Iterator[_Person]:
        """The persons, household by household; only ``rng`` (the people stream) is used."""
        rng = random.Random(f"people:{self.config.seed}")
        ids = _Ids(rng)
        registry = _Registry()
        wanted = self.config.customers
        notables = self._notables(registry)
        number = 0
        for person in notables[:wanted]:
            number += 1
            plan = person.per_system or {}
            for source in SOURCES:
                if source in plan:
                    person.accounts.append(_Account(source, ids.new(source), person.since))
            if person.number == _JOCELYNE:
                # Jocelyne once called without giving her e-mail: the helpdesk made a 2nd contact.
                since = self._last_day - 400
                person.accounts.append(_Account("support", ids.new("support"), since, True))
            yield person
        while number < wanted:
            household = self._household(rng, registry)
            size = min(wanted - number, rng.choices((1, 2, 3, 4), cum_weights=(62, 87, 95, 100))[0])
            first: _Person | None = None
            for _ in range(size):
                number += 1
                person = self._person(rng, registry, ids, household, number, first)
                first = first or person
                yield person

    def _household(self, rng: random.Random, registry: _Registry) -> _Household:
        pools = self._pools
        r = rng.random()
        if r < 0.90:
            pool = pools.french
        elif r < 0.96:
            pool = pools.diverse
        else:
            pool = rng.choice(pools.foreign)
        belgian = rng.random() < 0.02
        table, cum = (_BE_CITIES, _BE_CUM) if belgian else (_CITIES, _CITY_CUM)
        city, postcodes, prefix, store, _ = rng.choices(table, cum_weights=cum)[0]
        landline = None
        if not belgian and rng.random() < 0.30:
            landline = self._unique_phone(rng, registry, prefix)
        suffix = rng.choice(("",) * 12 + ("bis", "ter"))
        street = f"{rng.randint(1, 180)}{suffix} {rng.choice(pools.streets)}"
        return _Household(
            pool=pool,
            family=rng.choices(pool.family, cum_weights=pool.family_cum)[0],
            street=street,
            postcode=rng.choice(postcodes),
            city=city,
            store=store,
            country="BE" if belgian else "FR",
            landline=landline,
            share_email=rng.random() < self.config.family_email_rate,
        )

    @staticmethod
    def _unique_phone(rng: random.Random, registry: _Registry, prefix: str) -> str:
        while True:
            if prefix == "BE":
                phone = f"0{rng.choice(_BE_MOBILE_BLOCKS)}{rng.randrange(1_000_000):06d}"
            elif prefix == "mobile":
                phone = f"0{rng.choice(_FR_MOBILE_BLOCKS)}{rng.randrange(10_000_000):07d}"
            else:
                phone = f"{prefix}{rng.randint(1, 9)}{rng.randrange(10_000_000):07d}"
            if phone not in registry.phones:
                registry.phones.add(phone)
                return phone

    def _email(
        self, rng: random.Random, registry: _Registry, given: str, family: str, year: int
    ) -> str:
        g, f = _ascii_name(given), _ascii_name(family)
        domain = rng.choices(_EMAIL_DOMAINS, cum_weights=_EMAIL_DOMAIN_CUM)[0]
        pattern = rng.randrange(7)
        local = (
            f"{g}.{f}",
            f"{g}{f}",
            f"{g[0]}{f}",
            f"{g}.{f}{year % 100:02d}",
            f"{f}.{g}",
            f"{g}{rng.randint(1, 99)}",
            f"{g[0]}.{f}{rng.randint(1, 999)}",
        )[pattern]
        email = f"{local}@{domain}"
        while email in registry.emails:
            email = f"{local}{rng.randint(1, 9999)}@{domain}"
        registry.emails.add(email)
        return email

    def _handle(self, rng: random.Random, registry: _Registry, given: str, family: str) -> str:
        g, f = _ascii_name(given), _ascii_name(family)
        base = rng.choice((f"{g}{f}", f"{g}_{f}", f"{g}.{f[:1]}", f"{f}{g[:2]}", f"{g}{f[:3]}"))
        handle = base
        while handle in registry.handles:
            handle = f"{base}{rng.randint(1, 999)}"
        registry.handles.add(handle)
        return handle

    def _person(
        self,
        rng: random.Random,
        registry: _Registry,
        ids: _Ids,
        household: _Household,
        number: int,
        first: _Person | None,
    ) -> _Person:
        """A household member; ``first`` is the household's first member, if already made."""
        pool = household.pool
        member = 0 if first is None else number - first.number
        if first is not None and member == 1:
            female = first.female != (rng.random() < 0.85)  # mostly a couple of both sexes
        else:
            female = rng.random() < 0.5
        names, cum = (pool.female, pool.female_cum) if female else (pool.male, pool.male_cum)
        given = rng.choices(names, cum_weights=cum)[0]
        family = household.family
        if member == 1 and rng.random() < 0.25:
            family = rng.choices(pool.family, cum_weights=pool.family_cum)[0]
        if first is None:
            age = rng.randint(20, 88)
        else:
            first_age = (self._last_day - first.birth.toordinal()) // 365
            if member == 1:
                age = min(95, max(18, first_age + rng.randint(-8, 8)))
            else:  # a child old enough to be a customer
                age = rng.randint(16, max(16, min(30, first_age - 20)))
        birth = date.fromordinal(self._last_day - int(age * 365.25) - rng.randrange(365))

        emails: list[str] = []
        if rng.random() >= (0.30 if age > 72 else 0.05):
            emails.append(self._email(rng, registry, given, family, birth.year))
            if rng.random() < 0.15:
                work = f"{_ascii_name(given)}.{_ascii_name(family)}@{rng.choice(_WORK_DOMAINS)}"
                if work not in registry.emails:
                    registry.emails.add(work)
                    emails.append(work)
        if first is not None and household.share_email and first.emails:
            # The household's address first: children and spouses reuse it for their accounts.
            emails = [first.emails[0], *emails[: 1 if rng.random() < 0.3 else 0]]
        mobile = None
        if rng.random() < (0.60 if age > 75 else 0.93):
            mobile = self._unique_phone(
                rng, registry, "BE" if household.country == "BE" else "mobile"
            )
        landline = household.landline if rng.random() < 0.9 else None

        r = rng.random()
        if r < 0.002:
            profile = "vip"
        elif r < 0.0035:
            profile = "influencer"
        elif r < 0.0185:
            profile = "dnc"  # withdrew every contact consent
        else:
            profile = "regular"
        if profile == "vip":
            n = rng.randint(80, 400)
        elif profile == "influencer":
            n = rng.randint(40, 250)
        elif rng.random() < 0.2:
            n = 0
        else:
            n = min(5000, 1 + int(rng.lognormvariate(self._mu, self._sigma)))
        # Customers with a long history have been around for a while: about 40 a year at most.
        years = max(rng.expovariate(1 / 3) + 0.05, n / 40)
        years = rng.uniform(4, 12) if years > 5 else years
        since = self._last_day - int(years * 365)

        systems = self._systems(
            rng, profile, bool(emails), mobile is not None or landline is not None
        )
        person = _Person(
            number=number,
            female=female,
            given=given,
            family=family,
            birth=birth,
            emails=tuple(emails),
            mobile=mobile,
            landline=landline,
            country=household.country,
            street=household.street,
            postcode=household.postcode,
            city=household.city,
            store=household.store,
            language=pool.language if rng.random() < 0.6 else "fr",
            since=since,
            profile=profile,
            interactions=n,
        )
        span = self._last_day - since
        for source in systems:
            start = since if source == "crm" else since + int(span * rng.random() ** 2)
            person.accounts.append(_Account(source, ids.new(source), start))
        if rng.random() < self.config.duplicate_rate:
            weights = [_DUPLICATE_WEIGHTS[s] for s in systems]
            source = rng.choices(systems, weights=weights)[0]
            primary = next(a for a in person.accounts if a.source == source)
            start = primary.since + int((self._last_day - primary.since) * rng.random())
            person.accounts.append(_Account(source, ids.new(source), start, duplicate=True))

        if profile == "vip":
            person.tier, person.vip = "platinum", True
        elif n >= 60:
            person.tier = "platinum" if rng.random() < 0.1 else "gold"
        elif n >= 15:
            person.tier = "silver"
        person.vip = person.vip or (person.tier == "platinum" and rng.random() < 0.5)
        if "social" in systems:
            self._social_presence(rng, registry, person)
        person.interests = tuple(rng.sample(_INTERESTS, rng.randint(0, 4)))
        person.preferred_channel = rng.choices(
            _PREFERRED_CHANNELS, cum_weights=_PREFERRED_CHANNEL_CUM
        )[0]
        return person

    @staticmethod
    def _systems(rng: random.Random, profile: str, has_email: bool, has_phone: bool) -> list[str]:
        in_crm = rng.random() < 0.80 or profile in ("dnc", "vip")
        in_eshop = has_email and rng.random() < (1.0 if profile == "vip" else 0.55)
        in_loyalty = rng.random() < (1.0 if profile == "vip" else 0.45)
        in_support = (has_email or has_phone) and rng.random() < 0.30
        in_social = rng.random() < (
            1.0 if profile == "influencer" else 0.3 if profile == "vip" else 0.08
        )
        if profile == "influencer":  # no purchase at all
            in_eshop = in_loyalty = False
        chosen = [
            s
            for s, member in zip(
                SOURCES, (in_crm, in_eshop, in_loyalty, in_support, in_social), strict=True
            )
            if member
        ]
        return chosen or ["crm"]

    def _social_presence(self, rng: random.Random, registry: _Registry, person: _Person) -> None:
        r = rng.random()
        if r < 0.45 or person.profile == "influencer":
            person.instagram = self._handle(rng, registry, person.given, person.family)
        if r >= 0.35:
            person.twitter = self._handle(rng, registry, person.given, person.family)
        if person.profile == "influencer":
            person.followers = int(math.exp(rng.uniform(math.log(20_000), math.log(600_000))))
        else:
            person.followers = min(15_000, int(rng.lognormvariate(math.log(150), 1.3)))

    # ---- the notable persons of the demo ----------------------------------------------------

    def _notables(self, registry: _Registry) -> list[_Person]:
        last = self._last_day
        heavy = HEAVY_INTERACTIONS if self.config.customers >= 1000 else self.config.customers * 5

        def city(name: str) -> tuple[str, str]:
            return _CITY_BY_NAME[name][0], _CITY_BY_NAME[name][3]

        def make(
            number: int, female: bool, given: str, family: str, birth: str, city_name: str,
            postcode: str, street: str, emails: tuple[str, ...], mobile: str | None,
            landline: str | None, years: int, plan: dict[str, int], profile: str = "notable",
            **extra: Any,
        ) -> _Person:  # fmt: skip
            name, store = city(city_name)
            person = _Person(
                number=number,
                female=female,
                given=given,
                family=family,
                birth=date.fromisoformat(birth),
                emails=emails,
                mobile=mobile,
                landline=landline,
                country="FR",
                street=street,
                postcode=postcode,
                city=name,
                store=store,
                language="fr",
                since=last - years * 365,
                profile=profile,
                interactions=sum(plan.values()),
                per_system=plan,
                notable=True,
                **extra,
            )
            registry.emails.update(emails)
            registry.phones.update(p for p in (mobile, landline) if p)
            registry.handles.update(h for h in (person.twitter, person.instagram) if h)
            return person

        granted = dict.fromkeys(CONSENT_PURPOSES, "granted")
        return [
            make(
                1, True, "Jocelyne", "Michu", "1961-04-17", "Lyon", "69003", "12 rue Paul Bert",
                ("jocelyne.michu@orange.fr",), "0671425813", "0478601234", 6,
                {"crm": 20, "eshop": 90, "loyalty": 110, "support": 45, "social": 35},
                tier="gold", twitter="jocelynemichu", followers=1200,
                interests=("jardinage", "cuisine", "mode femme"), preferred_channel="phone",
                consents=granted | {"marketing_email": "withdrawn"},
                open_ticket=True, open_order=True,
            ),
            make(
                2, False, "Bernard", "Lefebvre-Dumas", "1956-09-02", "Paris", "75016",
                "48 avenue Victor Hugo", ("b.lefebvre-dumas@wanadoo.fr",), "0608091011", None, 9,
                {"crm": 12, "eshop": 160, "loyalty": 70, "support": 6, "social": 4},
                tier="platinum", vip=True, instagram="bernard.lefebvredumas", followers=75,
                interests=("mode homme", "bijoux", "voyage"), preferred_channel="store",
                consents=granted,
            ),
            make(
                3, True, "Inès", "Kaddour", "1997-02-11", "Marseille", "13006",
                "7 rue Paradis", ("contact.ineskaddour@gmail.com",), "0766554433", None, 3,
                {"crm": 2, "support": 3, "social": 180},
                instagram="ines.kdr", followers=250_000, interests=("beauté", "mode femme"),
                preferred_channel="email", consents=granted,
            ),
            make(
                4, False, "Thierry", "Garnier", "1970-06-23", "Lille", "59000",
                "3 place Rihour", ("thierry.garnier@free.fr", "t.garnier@sncf.fr"), "0620304050",
                "0320112233", 8,
                {
                    "crm": heavy // 20,
                    "eshop": heavy * 3 // 10,
                    "loyalty": heavy * 9 // 20,
                    "support": heavy * 3 // 20,
                    "social": heavy - heavy // 20 - heavy * 3 // 10 - heavy * 6 // 10,
                },
                tier="gold", twitter="titi_garnier", followers=310,
                interests=("high-tech", "sport"), preferred_channel="email", consents=granted,
            ),
            make(
                5, True, "Monique", "Girard", "1949-12-05", "Bordeaux", "33000",
                "21 cours de l'Intendance", ("monique.girard49@laposte.net",), "0699887766",
                "0556443322", 10, {"crm": 0, "eshop": 8, "loyalty": 9},
                tier="silver", preferred_channel="phone", interests=("livres",), profile="dnc",
                consents=granted | dict.fromkeys(_DO_NOT_CONTACT, "withdrawn"),
            ),
        ]  # fmt: skip

    # ---- customer records ---------------------------------------------------------------------

    def _customer_fields(self, rng: random.Random, p: _Person, account: _Account) -> dict[str, Any]:
        source, dup = account.source, account.duplicate
        # The notable persons' CRM records are the clean reference shown in the screenshots.
        clean = p.notable and source == "crm"
        fields: dict[str, Any] = {}
        if clean:
            fields["given_name"], fields["family_name"] = p.given, p.family
        elif source in ("crm", "eshop", "loyalty"):
            given, family = _vary_name(rng, p, source, dup)
            fields["given_name"], fields["family_name"] = given, family
        else:
            fields["full_name"] = self._full_name(rng, p, source, dup)

        emails = list(p.emails)
        if dup and source == "eshop":
            # a web shop login is unique: the second account uses another address
            if len(emails) > 1:
                emails = [emails[1]]
            else:
                local, _, domain = (emails[0] if emails else "client@gmail.com").partition("@")
                emails = [f"{local}{_between(rng, 2, 99)}@{domain}"]
        if clean:
            fields["email"] = emails[0] if len(emails) == 1 else emails
        elif source == "crm":
            if emails and rng.random() < 0.95:
                shown = emails if rng.random() < 0.7 else emails[:1]
                if rng.random() < 0.05:
                    shown = [_email_case(rng, e) for e in shown]
                fields["email"] = shown[0] if len(shown) == 1 else shown
        elif source == "eshop":
            email = emails[0]
            fields["email"] = _email_case(rng, email) if rng.random() < 0.12 else email
        elif source == "support" and dup and p.number == _JOCELYNE:
            pass  # the phone-only contact of the demo
        elif emails and rng.random() < {"loyalty": 0.6, "support": 0.75, "social": 0.12}[source]:
            email = emails[0] if len(emails) == 1 or rng.random() < 0.7 else emails[-1]
            fields["email"] = _email_case(rng, email) if rng.random() < 0.1 else email

        phones = self._phones(rng, p, source, dup, "email" in fields, clean)
        if phones:
            fields["phone"] = phones[0] if len(phones) == 1 else phones
        elif source == "support" and "email" not in fields:
            fields["email"] = emails[0]  # the helpdesk needs a way to answer

        if clean:
            fields["birth_date"] = p.birth.isoformat()
        elif source in ("crm", "eshop", "loyalty") and rng.random() < _BIRTH_DATE_SHARE[source]:
            birth = p.birth
            if rng.random() < 0.02 and birth.day <= 12:  # day and month typed the other way round
                birth = birth.replace(month=birth.day, day=birth.month)
            fields["birth_date"] = birth.isoformat()

        if clean:
            fields |= {"street": p.street, "postcode": p.postcode, "city": p.city}
            fields["country"] = p.country
        elif rng.random() < _ADDRESS_SHARE[source]:
            fields["street"] = _vary_street(rng, p.street)
            fields["postcode"] = p.postcode
            fields["city"] = p.city.upper() if rng.random() < 0.15 else p.city
            fields["country"] = p.country
        elif source == "loyalty" or (source == "social" and rng.random() < 0.3):
            fields["city"] = p.city
            if source == "loyalty":
                fields["postcode"] = p.postcode

        card = p.card
        if source == "loyalty":
            fields["loyalty_card"] = _card_format(rng, account.source_id, source)
            fields["loyalty_tier"] = "bronze" if dup else p.tier
            fields["vip"] = p.vip and not dup
            fields["preferred_store"] = p.store if rng.random() < 0.9 else _pick(rng, _STORES)
        elif (
            card
            and source in ("crm", "eshop")
            and rng.random() < (0.7 if source == "crm" else 0.25)
        ):
            fields["loyalty_card"] = _card_format(rng, card, source)
        if source == "crm":
            fields["language"] = p.language
            fields["preferred_channel"] = p.preferred_channel
            fields["preferred_store"] = p.store
            fields["interests"] = list(p.interests)
            if card:
                fields["loyalty_tier"] = p.tier
            if p.vip:
                fields["vip"] = True
            if p.twitter and rng.random() < 0.3:
                fields["twitter"] = p.twitter
        elif source == "eshop" and rng.random() < 0.5:
            fields["language"] = p.language
        elif source == "social":
            if p.twitter:
                fields["twitter"] = (
                    "@" if rng.random() < 0.8 or p.number == _JOCELYNE else ""
                ) + p.twitter
            if p.instagram:
                fields["instagram"] = ("@" if rng.random() < 0.4 else "") + p.instagram
            fields["followers"] = max(0, p.followers + (_between(rng, -5, 5) if dup else 0))
        if source != "support":
            fields["customer_since"] = date.fromordinal(account.since).isoformat()
        return fields

    def _full_name(self, rng: random.Random, p: _Person, source: str, dup: bool) -> str:
        given, family = _vary_name(rng, p, source, dup)
        family_plain = family.capitalize() if family.isupper() else family
        r = rng.random()
        if source == "support":
            if p.number == _JOCELYNE and dup:
                return "J. Michu"
            if r < 0.50:
                return f"{given} {family}"
            if r < 0.62:
                return f"{family.upper()} {given}"
            if r < 0.80:
                return f"{given[0]}. {family_plain}"
            if r < 0.88:
                return f"{'Mme' if p.female else 'M.'} {family_plain}"
            if r < 0.94:
                return f"{given} {family}".lower()
            return given
        # social display names
        if r < 0.30:
            return f"{given} {family_plain[0]}."
        if r < 0.45:
            return given
        if r < 0.70:
            return f"{given} {family_plain}"
        if r < 0.82:
            return f"{_nickname(rng, p.given)} {_pick(rng, ('🌸', '✨', '⚽', '🎸', ''))}".strip()
        if r < 0.92:
            return f"{_ascii_name(given)}_{_ascii_name(family_plain)}"
        return f"{given.upper()} {family_plain.lower()}"

    def _phones(
        self,
        rng: random.Random,
        p: _Person,
        source: str,
        dup: bool,
        has_email: bool,
        clean: bool,
    ) -> list[str]:
        share = _MOBILE_SHARE[source]
        if clean or (source == "support" and (not has_email or (dup and p.number == _JOCELYNE))):
            share = 1.0
        phones: list[str] = []
        if p.mobile and rng.random() < share:
            phones.append(_format_phone(p.country, p.mobile, _phone_style(rng, source)))
        landline_share = 1.0 if clean else _LANDLINE_SHARE.get(source, 0.0)
        if p.landline and (rng.random() < landline_share or (not phones and source == "support")):
            phones.append(_format_phone("FR", p.landline, _phone_style(rng, source)))
        return phones

    # ---- consents --------------------------------------------------------------------------------

    def _consents(self, rng: random.Random, p: _Person) -> Iterator[SourceRecord]:
        state = p.consents or self._consent_state(rng, p)
        for account in p.accounts:
            purposes = _SOURCE_PURPOSES.get(account.source)
            if not purposes:
                continue
            for purpose in purposes:
                if p.profile not in ("dnc", "notable") and rng.random() < 0.08:
                    continue  # never asked in that system
                status = state[purpose]
                if status == "withdrawn":
                    day = _between(rng, min(account.since + 30, self._last_day), self._last_day)
                else:
                    day = account.since
                if account.source == "crm":
                    channel = _pick(rng, ("store", "phone", "email", "web"))
                else:
                    channel = "web" if account.source == "eshop" else "store"
                moment = self._moment(rng, day, 540, 1260)
                yield SourceRecord(
                    account.source,
                    f"{account.source_id}:{purpose}",
                    RecordKind.CONSENT,
                    {
                        "customer_ref": account.source_id,
                        "purpose": purpose,
                        "status": status,
                        "channel": channel,
                        "collected_at": moment.isoformat(),
                    },
                    updated_at=moment,
                )

    @staticmethod
    def _consent_state(rng: random.Random, p: _Person) -> dict[str, str]:
        if p.profile == "dnc":
            state = dict.fromkeys(_DO_NOT_CONTACT, "withdrawn")
            state["profiling"] = _pick(rng, ("withdrawn", "denied"))
            return state
        state = {}
        for purpose, (granted, denied) in _CONSENT_RATES.items():
            r = rng.random()
            state[purpose] = (
                "granted" if r < granted else "denied" if r < granted + denied else "withdrawn"
            )
        return state

    # ---- interactions ----------------------------------------------------------------------

    def _interactions(
        self, rng: random.Random, p: _Person, numbers: dict[str, Iterator[int]]
    ) -> Iterator[SourceRecord]:
        counts = self._split(rng, p)
        for source in SOURCES:
            total = counts.get(source, 0)
            accounts = [a for a in p.accounts if a.source == source]
            if not accounts:
                continue
            if len(accounts) == 1:
                shares = [(accounts[0], total)]
            else:
                moved = sum(rng.random() < 0.3 for _ in range(total))
                shares = [(accounts[0], total - moved), (accounts[1], moved)]
            for account, n in shares:
                days = sorted(_between(rng, account.since, self._last_day) for _ in range(n))
                events = self._EVENTS[source]
                yield from events(self, rng, p, account, days, numbers)
                if account.duplicate:
                    continue
                if source == "support" and p.open_ticket:
                    yield self._ticket(
                        rng, p, account, self._last_day - 1, numbers, force_open=True
                    )
                if source == "eshop" and p.open_order:
                    yield self._order(rng, p, account, self._last_day, numbers, force_open=True)

    def _split(self, rng: random.Random, p: _Person) -> dict[str, int]:
        if p.per_system is not None:
            return p.per_system
        systems = [a.source for a in p.accounts if not a.duplicate]
        table = _INFLUENCER_WEIGHTS if p.profile == "influencer" else _SYSTEM_WEIGHTS
        weights = [table[s] for s in systems]
        if p.profile == "dnc":  # nobody calls or mails them any more
            weights = [0.0 if s == "crm" else w for s, w in zip(systems, weights, strict=True)]
        counts = dict.fromkeys(systems, 0)
        if p.interactions and sum(weights) > 0:
            for source in rng.choices(systems, weights=weights, k=p.interactions):
                counts[source] += 1
        return counts

    def _record(
        self,
        account: _Account,
        source_id: str,
        moment: datetime,
        fields: dict[str, Any],
    ) -> SourceRecord:
        fields["customer_ref"] = account.source_id
        fields["occurred_at"] = moment.isoformat()
        return SourceRecord(
            account.source, source_id, RecordKind.INTERACTION, fields, updated_at=moment
        )

    def _order(
        self,
        rng: random.Random,
        p: _Person,
        account: _Account,
        day: int,
        numbers: dict[str, Iterator[int]],
        force_open: bool = False,
    ) -> SourceRecord:
        number = next(numbers["ORD"])
        items = 1 + min(int(rng.expovariate(0.8)), 7)
        if p.vip:
            cents = _price(rng, min(15_000.0, rng.lognormvariate(math.log(900), 0.6) * items))
        else:
            cents = _price(rng, rng.lognormvariate(math.log(35), 0.6) * items)
        age = self._last_day - day
        if force_open or age <= 3:
            status = "open"
            state = "en cours de préparation" if age <= 1 else "expédiée, en cours de livraison"
        else:
            status = "closed"
            r = rng.random()
            state = "livrée" if r < 0.92 else "annulée" if r < 0.96 else "retournée, remboursée"
        delivery = _pick(rng, _DELIVERY)
        if delivery == "Retrait en magasin":
            delivery = f"Retrait en magasin {p.store}"
        if state == "annulée":
            status = "cancelled"
        elif state.startswith("retournée"):
            status = "returned"
        # The lines come from their own stream, seeded by the order: drawing them from ``rng``
        # would change every record generated after (the persons matching is measured on).
        lines = _order_lines(random.Random(self.config.seed * 1_000_003 + number), items, cents)
        articles = sum(int(line["quantity"]) for line in lines)
        fields: dict[str, Any] = {
            "channel": "web",
            "kind": "order",
            "summary": f"Commande n° {number} – {articles} article{'s' if articles > 1 else ''}",
            "details": f"Statut : {state} · {delivery}",
            "status": status,
            "amount": _amount(cents),
            "currency": "EUR",
            "items": lines,
        }
        return self._record(account, f"ORD-{number}", self._moment(rng, day, 420, 1425), fields)

    def _eshop_events(
        self,
        rng: random.Random,
        p: _Person,
        account: _Account,
        days: list[int],
        numbers: dict[str, Iterator[int]],
    ) -> Iterator[SourceRecord]:
        for day in days:
            yield self._order(rng, p, account, day, numbers)

    def _loyalty_events(
        self,
        rng: random.Random,
        p: _Person,
        account: _Account,
        days: list[int],
        numbers: dict[str, Iterator[int]],
    ) -> Iterator[SourceRecord]:
        visits, receipts = numbers["VIS"], numbers["RCPT"]
        big = p.vip or p.tier == "platinum"
        for day in days:
            store = p.store if rng.random() < 0.8 else _pick(rng, _STORES)
            items = 1 + min(int(rng.expovariate(0.9)), 6)
            plural = "s" if items > 1 else ""
            base = 250.0 if big else 30.0
            cents = _price(rng, rng.lognormvariate(math.log(base), 0.6) * items)
            fields: dict[str, Any] = {
                "channel": "store",
                "kind": "visit",
                "summary": f"Visite magasin {store}",
                "details": f"{items} article{plural} · ticket de caisse n° {next(receipts)}",
                "amount": _amount(cents),
                "currency": "EUR",
            }
            yield self._record(
                account, f"VIS-{next(visits)}", self._moment(rng, day, 570, 1170), fields
            )

    def _ticket(
        self,
        rng: random.Random,
        p: _Person,
        account: _Account,
        day: int,
        numbers: dict[str, Iterator[int]],
        force_open: bool = False,
    ) -> SourceRecord:
        number = next(numbers["TCK"])
        topic, details = _pick(rng, _TICKET_TOPICS)
        age = self._last_day - day
        is_open = force_open or (age <= 21 and rng.random() < 0.6) or rng.random() < 0.005
        fields: dict[str, Any] = {
            "channel": _pick(rng, ("web", "email", "web")),
            "kind": "ticket",
            "direction": "inbound",
            "summary": f"Ticket #{number} : {topic}",
            "details": details,
            "status": "open" if is_open else "closed",
        }
        return self._record(account, f"TCK-{number}", self._moment(rng, day, 420, 1380), fields)

    def _support_events(
        self,
        rng: random.Random,
        p: _Person,
        account: _Account,
        days: list[int],
        numbers: dict[str, Iterator[int]],
    ) -> Iterator[SourceRecord]:
        last_ticket: int | None = None
        for day in days:
            r = rng.random()
            if r < 0.35:
                record = self._ticket(rng, p, account, day, numbers)
                last_ticket = int(record.source_id[4:])
                yield record
                continue
            inbound = rng.random() < 0.7
            fields: dict[str, Any] = {"direction": "inbound" if inbound else "outbound"}
            if r < 0.65:
                if inbound:
                    summary = f"Appel entrant : {_pick(rng, _CALL_IN)}"
                elif last_ticket is not None and rng.random() < 0.6:
                    summary = f"Appel sortant : rappel suite au ticket #{last_ticket}"
                else:
                    summary = f"Appel sortant : {_pick(rng, _CALL_OUT)}"
                minutes = _between(rng, 1, 25)
                fields |= {"channel": "phone", "kind": "call", "summary": summary}
                fields["details"] = f"Durée : {minutes} min {_between(rng, 0, 59):02d} s"
                source_id, window = f"CALL-{next(numbers['CALL'])}", (510, 1140)
            elif r < 0.85:
                if inbound:
                    summary = f"E-mail reçu : {_pick(rng, _EMAIL_IN)}"
                elif last_ticket is not None and rng.random() < 0.6:
                    summary = f"E-mail envoyé : réponse au ticket #{last_ticket}"
                else:
                    summary = f"E-mail envoyé : {_pick(rng, _EMAIL_OUT)}"
                fields |= {"channel": "email", "kind": "email", "summary": summary}
                source_id, window = f"MAIL-{next(numbers['MAIL'])}", (420, 1380)
            else:
                fields |= {
                    "channel": "chat",
                    "kind": "chat",
                    "direction": "inbound",
                    "summary": f"Chat : {_pick(rng, _CHAT)}",
                }
                source_id, window = f"CHAT-{next(numbers['CHAT'])}", (540, 1260)
            yield self._record(account, source_id, self._moment(rng, day, *window), fields)

    def _social_events(
        self,
        rng: random.Random,
        p: _Person,
        account: _Account,
        days: list[int],
        numbers: dict[str, Iterator[int]],
    ) -> Iterator[SourceRecord]:
        platforms = [
            name for name, handle in (("Twitter", p.twitter), ("Instagram", p.instagram)) if handle
        ]
        if not platforms:
            platforms = ["Twitter"]
        influencer = p.followers >= 20_000
        for day in days:
            platform = _pick(rng, platforms)
            r = rng.random()
            if influencer and r < 0.4:
                code = f"{_ascii_name(p.given).upper()}10"
                summary = _pick(rng, _SPONSORED).format(code=code)
                direction = "outbound" if rng.random() < 0.2 else "inbound"
            elif r < 0.8:
                text = _pick(rng, _SOCIAL_IN).format(city=p.city)
                what = (
                    "Mention"
                    if platform == "Twitter"
                    else _pick(rng, ("Commentaire", "Message privé"))
                )
                summary = f"{what} {platform} : « {text} »"
                direction = "inbound"
            else:
                summary = f"Réponse de l'équipe sur {platform} : {_pick(rng, _SOCIAL_OUT)}"
                direction = "outbound"
            fields: dict[str, Any] = {
                "channel": "social",
                "kind": "post",
                "direction": direction,
                "summary": summary,
            }
            yield self._record(
                account, f"POST-{next(numbers['POST'])}", self._moment(rng, day, 420, 1430), fields
            )

    def _crm_events(
        self,
        rng: random.Random,
        p: _Person,
        account: _Account,
        days: list[int],
        numbers: dict[str, Iterator[int]],
    ) -> Iterator[SourceRecord]:
        for day in days:
            if rng.random() < 0.75:
                fields: dict[str, Any] = {
                    "channel": "email",
                    "kind": "email",
                    "direction": "outbound",
                    "summary": f"Campagne e-mail : {_pick(rng, _CAMPAIGNS)}",
                }
                moment = self._moment(rng, day, 600, 600)
            else:
                fields = {
                    "channel": "phone",
                    "kind": "call",
                    "direction": "outbound",
                    "summary": f"Appel sortant conseiller : {_pick(rng, _ADVISOR_CALLS)}",
                }
                moment = self._moment(rng, day, 570, 1110)
            yield self._record(account, f"ACT-{next(numbers['ACT'])}", moment, fields)

    _EVENTS: ClassVar[dict[str, _Events]] = {
        "crm": _crm_events,
        "eshop": _eshop_events,
        "loyalty": _loyalty_events,
        "support": _support_events,
        "social": _social_events,
    }
