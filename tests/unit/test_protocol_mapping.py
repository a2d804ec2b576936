"""The protocol's enums and the domain's meet in one place each (the app's dto modules), by
value: every member on one side has its counterpart on the other."""

from __future__ import annotations

import pytest

from reflective_app.dto.privacy import domain_tier, wire_tier
from reflective_app.dto.sync import resolution
from reflective_domain.entries import Resolution
from reflective_domain.tiers import PrivacyTier
from reflective_protocol.privacy import Tier
from reflective_protocol.sync import ChosenVersion


@pytest.mark.parametrize("tier", list(PrivacyTier))
def test_every_domain_tier_has_a_wire_name_and_back(tier: PrivacyTier) -> None:
    assert domain_tier(wire_tier(tier)) is tier


@pytest.mark.parametrize("tier", list(Tier))
def test_every_wire_tier_is_a_domain_tier(tier: Tier) -> None:
    assert wire_tier(domain_tier(tier)) is tier


def test_the_wire_lists_the_tiers_lowest_first() -> None:
    assert [domain_tier(t) for t in Tier] == sorted(PrivacyTier, key=lambda t: t.rank)


@pytest.mark.parametrize("choice", list(ChosenVersion))
def test_every_choice_a_client_may_send_is_a_domain_resolution(choice: ChosenVersion) -> None:
    assert resolution(choice).value == choice.value
    assert resolution(choice) is not Resolution.SUPERSEDED  # the server's own, never chosen
