"""A match profile crosses process boundaries whole (a sync's second process sends them to the
writing one), compiled (``customer_card.native``) or not."""

from __future__ import annotations

import copy
import pickle

from customer_card.matching.profile import Profile, profile_of

JOCELYNE = {
    "full_name": "Jocelyne MICHU",
    "birth_date": "03/04/1961",
    "email": "jocelyne.michu@orange.fr",
    "phone": "06 12 34 56 78",
    "loyalty_card": "2904-1187-3321",
    "twitter": "@jmichu",
    "street": "12 rue des Lilas",
    "postcode": "93100",
    "city": "Montreuil",
}


def test_a_profile_is_the_same_once_pickled_or_copied() -> None:
    profile = profile_of(JOCELYNE)
    assert all((profile.births, profile.emails, profile.phones, profile.ids, profile.social))
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        back = pickle.loads(pickle.dumps(profile, protocol))
        assert type(back) is Profile
        assert back == profile
        assert hash(back) == hash(profile)
    assert copy.deepcopy(profile) == profile
    assert copy.copy(profile) == profile
    assert {profile: 1}[Profile.from_json(profile.to_json())] == 1
