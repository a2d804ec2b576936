import pytest

from reflective_domain.accounts import Preferences, check_password, normalise_email
from reflective_domain.errors import ValidationFailed


def test_email_is_trimmed_and_lower_cased():
    assert normalise_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"


@pytest.mark.parametrize("bad", ["", "no-at-sign", "a@b", "a b@c.d", "@x.io", "x" * 250 + "@a.io"])
def test_invalid_emails_are_refused(bad):
    with pytest.raises(ValidationFailed) as err:
        normalise_email(bad)
    assert err.value.field == "email"


def test_passwords_need_eight_characters():
    with pytest.raises(ValidationFailed):
        check_password("short")
    assert check_password("long enough")


def test_preference_defaults_match_the_contract():
    p = Preferences()
    assert (p.timezone, p.locale, p.daily_word_goal, p.ai_features_enabled) == (
        "UTC",
        "en-US",
        750,
        True,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus"),
        ("timezone", "../etc/passwd"),
        ("writing_reminder_time", "25:00"),
        ("writing_reminder_time", "7:30"),
        ("daily_word_goal", 0),
        ("daily_word_goal", 100_001),
        ("daily_word_goal", True),
        ("locale", "english please"),
    ],
)
def test_bad_preferences_are_refused_naming_the_field(field, value):
    with pytest.raises(ValidationFailed) as err:
        Preferences().updated(**{field: value})
    assert err.value.field == field


def test_preferences_update_keeps_other_fields():
    p = Preferences(timezone="Europe/Paris").updated(writing_reminder_time="07:30")
    assert p.timezone == "Europe/Paris" and p.reminder is not None and p.reminder.hour == 7


def test_unknown_preference_is_refused():
    with pytest.raises(ValidationFailed):
        Preferences().updated(favourite_colour="blue")
