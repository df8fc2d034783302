"""Matching, pure parts: normalisers with nasty real-world values, comparisons, blocking,
the match model and its EM estimation, the per-record decision."""

from __future__ import annotations

import math
import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from customer_card import paths
from customer_card.matching import normalise
from customer_card.matching.blocking import block_keys
from customer_card.matching.compare import family_level, given_level
from customer_card.matching.config import (
    FIELDS,
    ConfigError,
    FieldWeights,
    config_from_dict,
    load_config,
)
from customer_card.matching.decide import Candidate, Matcher
from customer_card.matching.extract import extract
from customer_card.matching.frequency import POPULATION_KEY, Frequencies
from customer_card.matching.link import Identity, conflict
from customer_card.matching.model import Model, estimate
from customer_card.matching.profile import Profile, profile_of

CONFIG = load_config(paths.resources_dir() / "matching.toml")


# --- normalisers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected", "valid"),
    [
        ("06 71 42 58 13", "+33671425813", True),
        ("06.71.42.58.13", "+33671425813", True),
        ("+33 (0)6 71 42 58 13", "+33671425813", True),
        ("0033671425813", "+33671425813", True),
        ("+33 6 71 42 58 13 ", "+33671425813", True),
        ("+32 473 12 85 08", "+32473128508", True),
        ("01 23", None, False),
        ("06 71 42 58 1", None, False),
        ("n/a", "", False),
    ],
)
def test_phone(raw: str, expected: str | None, valid: bool) -> None:
    result = normalise.phone(raw)
    assert result.valid == valid  # flagged, not dropped
    if expected is not None:
        assert result.value == expected
    assert result.raw == raw  # the raw value is kept beside the normalised one


@pytest.mark.parametrize(
    ("raw", "expected", "valid"),
    [
        ("Jocelyne.Michu@Orange.FR", "jocelyne.michu@orange.fr", True),
        ("  jocelyne.michu@orange.fr ", "jocelyne.michu@orange.fr", True),
        ("JOCELYNE.MICHU@ORANGE.FR", "jocelyne.michu@orange.fr", True),
        ("jocelyne.michu@orange", "jocelyne.michu@orange", False),
        ("jocelyne michu@orange.fr", "jocelyne michu@orange.fr", False),
        ("@orange.fr", "@orange.fr", False),
    ],
)
def test_email(raw: str, expected: str, valid: bool) -> None:
    result = normalise.email(raw)
    assert (result.value, result.valid) == (expected, valid)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1961-04-17", (date(1961, 4, 17),)),
        ("17/04/1961", (date(1961, 4, 17),)),
        ("17.04.1961", (date(1961, 4, 17),)),
        ("03/04/1961", (date(1961, 4, 3), date(1961, 3, 4))),  # day or month first?
        ("05/05/1961", (date(1961, 5, 5),)),
        ("17/04/61", (date(1961, 4, 17),)),
        ("31/02/1961", ()),
        ("inconnue", ()),
        ("", ()),
    ],
)
def test_birth_date_readings(raw: str, expected: tuple[date, ...]) -> None:
    assert normalise.birth_date_readings(raw) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Michu", "MICHOU"),
        ("Michu", "Mishu"),
        ("Lefèvre", "Lefebvre"),
        ("Garnier", "Garnié"),
        ("Chevalier", "Chevallier"),
        ("Kaddour", "Kadour"),
        ("Dupont", "Dupond"),
    ],
)
def test_phonetic_keys_meet_on_spelling_variants(a: str, b: str) -> None:
    assert normalise.phonetic(a) == normalise.phonetic(b)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12, Av. Paul-Bert", "12 avenue paul bert"),
        ("12 AVENUE PAUL BERT", "12 avenue paul bert"),
        ("3 bd de la Liberté", "3 boulevard de la liberte"),
        ("7 r. du Faubourg St-Denis", "7 rue du faubourg saint denis"),
        ("", ""),
    ],
)
def test_street(raw: str, expected: str) -> None:
    assert normalise.street(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("de La Fontaine", "fontaine"), ("Lefebvre-Dumas", "lefebvredumas"), ("Le", "le")],
)
def test_name_core_drops_particles(raw: str, expected: str) -> None:
    assert normalise.name_core(raw) == expected


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("jocelyne", "jocelyne", 1),
        ("jean pierre", "jeanpierre", 1),
        ("jocelyne", "joceline", 2),
        ("catherine", "cathy", 2),
        ("jean", "jean pierre", 2),
        ("j", "jocelyne", 3),
        ("kevin", "jocelyne", 4),
        ("", "jocelyne", 0),
    ],
)
def test_given_name_levels(a: str, b: str, level: int) -> None:
    assert given_level(a, b) == level


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("michu", "michu", 1),
        ("le goff", "legoff", 1),
        ("michu", "mcihu", 2),
        ("lefebvre dumas", "lefebvre", 2),
        ("m", "michu", 3),
        ("durand", "michu", 4),
    ],
)
def test_family_name_levels(a: str, b: str, level: int) -> None:
    assert family_level(a, b) == level


# --- profiles and blocking --------------------------------------------------------------------


JOCELYNE = {
    "given_name": "Jocelyne",
    "family_name": "Michu",
    "birth_date": "1961-04-17",
    "email": "jocelyne.michu@orange.fr",
    "phone": "06 71 42 58 13",
    "street": "12 rue Paul Bert",
    "postcode": "69003",
    "city": "Lyon",
}


def test_profile_round_trips_through_json() -> None:
    profile = profile_of(
        {**JOCELYNE, "twitter": "@JocelyneMichu", "loyalty_card": "2904 1000 0035"}
    )
    assert Profile.from_json(profile.to_json()) == profile
    assert profile.social == ("twitter:jocelynemichu",)
    assert profile.ids == ("loyalty_card:290410000035",)
    assert "jocelynemichu" in profile.aliases


def test_social_display_name_meets_the_full_name_through_a_block_key() -> None:
    crm = block_keys(profile_of(JOCELYNE))
    social = block_keys(profile_of({"full_name": "Jocelyne M.", "instagram": "jocelyne.m"}))
    handle_only = block_keys(profile_of({"full_name": "Jo 🌸", "twitter": "@jocelynemichu"}))
    assert set(crm) & set(social)
    assert set(crm) & set(handle_only)


def test_swapped_names_share_block_keys() -> None:
    straight = block_keys(profile_of(JOCELYNE))
    swapped = block_keys(
        profile_of({**JOCELYNE, "given_name": "MICHU", "family_name": "Jocelyne", "email": None})
    )
    assert {k for k in straight if k.startswith(("d:", "w:"))} & set(swapped)


# --- configuration ------------------------------------------------------------------------------


def _config_dict() -> dict[str, Any]:
    import tomllib

    return tomllib.loads((paths.resources_dir() / "matching.toml").read_text(encoding="utf-8"))


def test_shipped_config_loads() -> None:
    assert [f.name for f in CONFIG.fields] == list(FIELDS)
    assert 0 < CONFIG.suggest_threshold < CONFIG.link_threshold < 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["thresholds"].update(link=1.5), "between 0 and 1"),
        (lambda d: d["thresholds"].update(suggest=0.999, link=0.9), "must not be above"),
        (lambda d: d["fields"]["email"].update(m=[0.5, 0.2, 0.1, 0.1]), "add up to 1"),
        (lambda d: d["fields"]["phone"].update(u=[0.5]), "same length"),
        (lambda d: d["fields"].pop("address"), "fields.address"),
        (lambda d: d["blocking"].update(window=0), "blocking.window"),
    ],
)
def test_bad_config_says_what_is_wrong(change: Any, message: str) -> None:
    data = _config_dict()
    change(data)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_unreadable_config_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "matching.toml"
    bad.write_text("[thresholds\nlink = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


# --- the model -----------------------------------------------------------------------------------


def test_probability_grows_with_agreement_and_shrinks_with_population() -> None:
    model = Model(CONFIG)
    names_only = (1, 1, 0, 0, 0, 0, 0, 0, 0)
    names_and_birth = (1, 1, 1, 0, 0, 0, 0, 0, 0)
    assert (
        model.score(names_and_birth, 1000).probability > model.score(names_only, 1000).probability
    )
    assert (
        model.score(names_only, 1_000_000).probability < model.score(names_only, 1000).probability
    )
    evidence = model.score(names_and_birth, 1000).evidence
    assert [(e.field, e.level) for e in evidence] == [
        ("given_name", "exact"),
        ("family_name", "exact"),
        ("birth_date", "exact"),
    ]


def test_em_recovers_known_m_and_u() -> None:
    """Vectors drawn from a two-class model with known m, u and share of matches."""
    truth_m = [(0.9, 0.07, 0.03), (0.85, 0.15), (0.8, 0.2)]
    truth_u = [(0.05, 0.15, 0.8), (0.1, 0.9), (0.02, 0.98)]
    share = 0.2
    rng = random.Random(5)
    vectors = []
    for _ in range(30_000):
        probs = truth_m if rng.random() < share else truth_u
        vectors.append(tuple(rng.choices(range(1, len(p) + 1), weights=p)[0] for p in probs))
    # Symmetric starting m and u would stay symmetric: m starts tilted towards agreement.
    start = tuple(
        FieldWeights(
            f"f{i}",
            tuple(f"l{j}" for j in range(len(p))),
            (0.6, *[0.4 / (len(p) - 1)] * (len(p) - 1)),
            tuple([1 / len(p)] * len(p)),
        )
        for i, p in enumerate(truth_m)
    )

    result = estimate(vectors, start, 0.5)

    assert result.converged
    assert math.isclose(result.prior, share, abs_tol=0.02)
    for field, m, u in zip(result.fields, truth_m, truth_u, strict=True):
        for got, want in zip(field.m, m, strict=True):
            assert math.isclose(got, want, abs_tol=0.03)
        for got, want in zip(field.u, u, strict=True):
            assert math.isclose(got, want, abs_tol=0.03)


# --- decisions ------------------------------------------------------------------------------------


def _candidate(key: int, cluster: int, fields: dict[str, Any]) -> Candidate[int]:
    return Candidate(key, cluster, profile_of(fields), ("crm", f"C{key}"))


def test_shared_email_links_deterministically() -> None:
    matcher = Matcher(CONFIG)
    incoming = profile_of({"full_name": "J. Michu", "email": "Jocelyne.Michu@orange.fr"})
    decision = matcher.decide(incoming, [_candidate(1, 10, JOCELYNE)], 1000)
    assert decision.link is not None
    assert decision.link.cluster == 10
    assert decision.link.reason == "shares email"
    assert decision.link.evidence["shared"] == ["email"]


def test_family_sharing_an_email_is_not_linked() -> None:
    matcher = Matcher(CONFIG)
    son = profile_of(
        {"given_name": "Kevin", "family_name": "Michu", "birth_date": "30/08/1992",
         "email": "jocelyne.michu@orange.fr"}
    )  # fmt: skip
    decision = matcher.decide(son, [_candidate(1, 10, JOCELYNE)], 1000)
    assert decision.link is None
    (suggestion,) = decision.suggestions
    assert "but different" in suggestion.reason
    assert suggestion.probability < CONFIG.suggest_threshold  # a household, not a duplicate
    assert suggestion.evidence["conflict"]


def test_probabilistic_link_without_any_shared_identifier() -> None:
    matcher = Matcher(CONFIG)
    other_systems = profile_of(
        {"given_name": "Joceline", "family_name": "MICHU", "birth_date": "17/04/1961",
         "postcode": "69003", "street": "12 r. Paul-Bert", "email": "jmichu@gmail.com"}
    )  # fmt: skip
    decision = matcher.decide(other_systems, [_candidate(1, 10, JOCELYNE)], 100_000)
    assert decision.link is not None
    assert decision.link.reason.startswith("probable match")
    fields = {e["field"]: e["level"] for e in decision.link.evidence["fields"]}
    assert fields["given_name"] == "compatible"
    assert fields["birth_date"] == "exact"
    assert fields["address"] == "street"


def test_same_name_elsewhere_is_not_linked() -> None:
    matcher = Matcher(CONFIG)
    namesake = profile_of(
        {"given_name": "Jocelyne", "family_name": "Michu", "email": "jmichu@free.fr",
         "phone": "06 12 34 56 78", "postcode": "13001", "city": "Marseille"}
    )  # fmt: skip
    decision = matcher.decide(namesake, [_candidate(1, 10, JOCELYNE)], 100_000)
    assert decision.link is None


def test_social_record_with_handle_and_display_name_is_at_least_suggested() -> None:
    matcher = Matcher(CONFIG)
    social = profile_of({"full_name": "Jocelyne M.", "twitter": "@jocelynemichu"})
    candidate = _candidate(1, 10, JOCELYNE)
    counts = Frequencies()  # the cache knows one Jocelyne, one Michu
    counts.add(candidate.profile)
    decision = matcher.decide(social, [candidate], 10_000, counts=counts)
    found = decision.link or decision.suggestions[0]
    assert found.cluster == 10


# --- namesakes, households, term frequencies -----------------------------------------------


def test_a_mailbox_name_that_only_spells_the_names_is_no_evidence() -> None:
    matcher = Matcher(CONFIG)
    elsewhere = profile_of(
        {"given_name": "Jean-Pierre", "family_name": "Vidal", "email": "jeanpierre.vidal@orange.fr"}
    )
    namesake = profile_of(
        {"given_name": "Jean-Pierre", "family_name": "Vidal",
         "email": "jeanpierre.vidal@ac-lyon.fr", "postcode": "54100"}
    )  # fmt: skip
    levels = matcher.pair(elsewhere, namesake, 100_000).comparison.levels
    assert levels[FIELDS.index("email")] == 4  # different, not 'local_part'
    # A number added at the same provider ('lprice26@' beside 'lprice@') is not the same
    # mailbox name either, only the same letters: the level 'letters', weighed apart.
    second = profile_of(
        {"given_name": "Lauren", "family_name": "Price", "email": "lprice26@free.fr"}
    )
    first = profile_of({"given_name": "Lauren", "family_name": "Price", "email": "Lprice@free.fr"})
    assert matcher.pair(second, first, 100_000).comparison.levels[FIELDS.index("email")] == 3
    assert CONFIG.fields[FIELDS.index("email")].level_name(3) == "letters"
    digits = profile_of({"given_name": "Jean-Pierre", "family_name": "Vidal",
                         "email": "jeanpierre.vidal51@gmail.com"})  # fmt: skip
    other = profile_of({"full_name": "JP Vidal", "email": "jeanpierre.vidal51@free.fr"})
    assert matcher.pair(digits, other, 100_000).comparison.levels[FIELDS.index("email")] == 2


def test_names_alone_never_link_however_strong() -> None:
    # A lenient link threshold, so that the names and a handle spelling them score above it.
    matcher = Matcher(CONFIG.with_thresholds(0.7, 0.5))
    incoming = profile_of({"full_name": "Philomène K.", "twitter": "@philomenekerherve"})
    candidate = _candidate(1, 10, {"given_name": "Philomène", "family_name": "Kerhervé"})
    scored = matcher.pair(incoming, candidate.profile, 1000)
    assert scored.probability >= 0.7
    decision = matcher.decide(incoming, [candidate], 1000)
    assert decision.link is None
    (suggestion,) = decision.suggestions
    assert "only the names agree" in suggestion.reason
    assert suggestion.evidence["conflict"] == "only the names agree"


def test_common_names_weigh_less_than_rare_ones() -> None:
    matcher = Matcher(CONFIG)
    counts = Frequencies(
        {"g:marie": 3000, "f:martin": 1500, "n:marie|martin": 60,
         "g:philomene": 2, "f:kerherve": 2, "n:philomene|kerherve": 2}
    )  # fmt: skip

    def weight(given: str, family: str) -> float:
        a = profile_of({"given_name": given, "family_name": family, "birth_date": "1961-04-17"})
        b = profile_of({"given_name": given, "family_name": family, "birth_date": "1961-04-17"})
        return matcher.pair(a, b, 100_000, counts=counts).score.weight

    assert weight("Philomène", "Kerhervé") > weight("Marie", "Martin") + 4
    without = matcher.pair(profile_of(JOCELYNE), profile_of(JOCELYNE), 100_000).score.weight
    assert weight("Marie", "Martin") < without  # commoner than the configured average


def test_household_email_links_only_who_can_be_told_apart() -> None:
    matcher = Matcher(CONFIG)
    family = "jocelyne.michu@orange.fr"
    mother = _candidate(1, 10, JOCELYNE)
    son = _candidate(2, 20, {"given_name": "Kevin", "family_name": "Michu", "email": family,
                             "birth_date": "1992-08-30"})  # fmt: skip
    # A contact with only a title and the family name: which Michu? Either, as likely: it is
    # linked to neither, and each member has half the odds — under the suggestion threshold.
    anonymous = profile_of({"full_name": "Mme Michu", "email": family})
    decision = matcher.decide(anonymous, [mother, son], 100_000)
    assert decision.link is None
    assert decision.suggestions == ()
    lenient = Matcher(CONFIG.with_thresholds(CONFIG.link_threshold, 0.3))
    shares = lenient.decide(anonymous, [mother, son], 100_000).suggestions
    assert {s.cluster for s in shares} == {10, 20}
    assert all(0.45 < s.probability <= 0.5 for s in shares)
    assert all("shares an identifier of several customers" in s.reason for s in shares)
    # With a given name the household's address still links the right member.
    kevin = profile_of({"full_name": "Kevin Michu", "email": family})
    decision = matcher.decide(kevin, [mother, son], 100_000)
    assert decision.link is not None
    assert decision.link.cluster == 20


def test_compound_given_name_initials_are_compatible() -> None:
    assert given_level("jp", "jean pierre") == 2
    assert given_level("jean pierre", "jc") == 4


def test_frequencies_count_names_and_records() -> None:
    counts = Frequencies()
    counts.add_all([profile_of(JOCELYNE), profile_of({"full_name": "J. Michu"})])
    assert counts.count("f:michu") == 2
    assert counts.count("g:jocelyne") == 1
    assert counts.count("n:jocelyne|michu") == 1
    assert counts.count(POPULATION_KEY) == 2


@pytest.mark.parametrize(
    ("address", "placeholder"),
    [
        ("noemail@noemail.com", True),
        ("test@test.com", True),
        ("aucun@orange.fr", True),
        ("jean@example.invalid", True),
        ("jocelyne.michu@orange.fr", False),
        ("contact.ineskaddour@gmail.com", False),
    ],
)
def test_placeholder_e_mails_never_link(address: str, placeholder: bool) -> None:
    assert normalise.placeholder_email(address) is placeholder
    extracted = extract({"given_name": "Jean", "email": address})
    assert (("email", address) in extracted.identifiers) is not placeholder


@pytest.mark.parametrize(
    ("number", "placeholder"),
    [("06 00 00 00 00", True), ("01 11 11 11 11", True), ("06 12 34 56 78", False)],
)
def test_placeholder_phones_never_link(number: str, placeholder: bool) -> None:
    e164 = normalise.phone(number).value
    assert normalise.placeholder_phone(e164) is placeholder
    assert (("phone", e164) in extract({"phone": number}).identifiers) is not placeholder


def test_an_initial_is_never_an_exact_name_agreement() -> None:
    assert given_level("a", "a") == 3
    assert family_level("b", "b") == 3
    assert given_level("a", "b") == 4


@pytest.mark.parametrize(
    ("incoming", "existing", "why"),
    [
        ((("marie", "dupont"),), (("marie", "martin"),), "different family names"),
        ((("marie", "dupont"),), (("marie", "dupond"),), None),  # a typo
        ((("bernard", "dumas"),), (("bernard", "lefebvre dumas"),), None),  # compound
        ((("", "bernard"),), (("bernard", "lefebvre dumas"),), None),  # a lone word
        ((("dupont", "marie"),), (("marie", "dupont"),), None),  # swapped
    ],
)
def test_family_names_that_clearly_differ_keep_people_apart(
    incoming: Any, existing: Any, why: str | None
) -> None:
    assert conflict(Identity.of(incoming, []), Identity.of(existing, [])) == why
