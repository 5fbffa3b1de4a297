"""The rules of customer notifications that need no database: language and locale, E.164, the
promised delivery date, the retry schedule, the SMTP URL."""
from __future__ import annotations

from datetime import date, timedelta

import phonenumbers
import pytest
from hypothesis import assume, given, strategies as st

from application.notifications.delivery_estimate import add_business_days, expected_delivery, transit_days
from application.notifications.language import message_locale
from application.notifications.phone import NoSmsNumber, to_e164
from application.notifications.retry import RetryPolicy
from infrastructure.adapters.smtp_mailer import SmtpServer, parse_smtp_url

# ------------------------------------------------------------------ language


@pytest.mark.parametrize(("country", "language", "locale"), [
    ("DE", "de", "de_DE"), ("AT", "de", "de_AT"), ("CH", "de", "de_CH"), ("LI", "de", "de_LI"),
    ("GB", "en", "en_GB"), ("US", "en", "en_US"), ("FR", "en", "en_FR"), ("IT", "en", "en_IT"),
    ("gb", "en", "en_GB"), ("", "en", "en"), (None, "en", "en"), ("ZZ", "en", "en"),
])
def test_german_for_the_german_speaking_countries_english_elsewhere(country, language, locale):
    where = message_locale(country)
    assert (where.language, where.locale) == (language, locale)


# ------------------------------------------------------------------ E.164

# Regions whose example mobile numbers phonenumbers ships (the library's own metadata).
REGIONS = ["DE", "AT", "CH", "GB", "US", "FR", "NL", "IT", "ES", "PL", "SE", "JP", "AU", "BR", "IN"]


@given(region=st.sampled_from(REGIONS), style=st.sampled_from([
    phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.E164]))
def test_a_mobile_number_written_any_usual_way_normalises_to_its_e164(region, style):
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    written = phonenumbers.format_number(number, style)
    assert to_e164(written, region) == e164
    if style != phonenumbers.PhoneNumberFormat.NATIONAL:  # an international number needs no region
        assert to_e164(written, "US" if region != "US" else "DE") == e164


@pytest.mark.parametrize(("written", "country", "e164"), [
    ("0151 12345678", "DE", "+4915112345678"),
    ("+49 (0)151 1234-5678", "GB", "+4915112345678"),
    ("0049 151 12345678", "DE", "+4915112345678"),
    ("07911 123456", "GB", "+447911123456"),
    ("(201) 555-0123", "US", "+12015550123"),
    ("0664 1234567", "AT", "+436641234567"),
])
def test_examples_of_how_customers_write_their_numbers(written, country, e164):
    assert to_e164(written, country) == e164


@pytest.mark.parametrize(("written", "country", "why"), [
    ("12", "DE", "not a valid phone number"), ("not a number", "DE", "not a phone number"),
    ("030 1234567", "DE", "landline"), ("0151 12345678", None, "not a phone number"),
])
def test_a_number_that_cannot_take_an_sms_says_why(written, country, why):
    with pytest.raises(NoSmsNumber, match=why):
        to_e164(written, country)


# ------------------------------------------------------------------ the promised delivery date

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))
points = st.tuples(st.floats(-89, 89), st.floats(-179.9, 179.9))


@given(start=days, count=st.integers(0, 40))
def test_business_days_are_weekdays_counted_after_the_start(start, count):
    end = add_business_days(start, count)
    weekdays = sum(1 for n in range(1, (end - start).days + 1) if (start + timedelta(n)).weekday() < 5)
    assert weekdays == count
    assert count == 0 or end.weekday() < 5


@given(start=days, destination=points, near=points, far=points)
def test_the_promise_is_a_weekday_at_least_two_business_days_on_and_the_farthest_origin_decides(
        start, destination, near, far):
    alone = expected_delivery(start, destination, [near])
    both = expected_delivery(start, destination, [near, far])
    assert alone is not None and both is not None
    assert alone.weekday() < 5 and alone >= add_business_days(start, 2)
    assert both == max(alone, expected_delivery(start, destination, [far]))


@given(a=st.floats(0, 20_000), b=st.floats(0, 20_000))
def test_farther_never_arrives_sooner(a, b):
    assume(a <= b)
    assert 1 <= transit_days(a) <= transit_days(b)


def test_five_hundred_kilometres_a_day():
    assert [transit_days(km) for km in (0, 25, 500, 500.1, 1000, 1001)] == [1, 1, 1, 2, 2, 3]
    friday = date(2026, 12, 4)
    assert expected_delivery(friday, (52.41, 13.07), [(52.52, 13.40)]) == date(2026, 12, 8)  # Mon out, Tue in


def test_no_promise_without_coordinates_or_without_a_sourced_parcel():
    assert expected_delivery(date(2026, 1, 5), None, [(52.5, 13.4)]) is None
    assert expected_delivery(date(2026, 1, 5), (52.5, 13.4), [None]) is None
    assert expected_delivery(date(2026, 1, 5), (52.5, 13.4), []) is None


# ------------------------------------------------------------------ retries


@given(policy=st.builds(RetryPolicy, st.floats(0.01, 100), st.floats(100, 10_000), st.integers(1, 30)),
       attempts=st.integers(1, 40), draws=st.tuples(st.floats(0, 0.999), st.floats(0, 0.999)))
def test_delays_grow_with_jitter_up_to_a_bound(policy, attempts, draws):
    first = policy.delay(attempts, lambda: draws[0])
    second = policy.delay(attempts + 1, lambda: draws[1])
    assert policy.first_delay <= first <= 1.5 * policy.max_delay
    assert second >= first or first > policy.max_delay  # growing, until the cap's jitter
    base = min(policy.first_delay * 2 ** (attempts - 1), policy.max_delay)
    assert base <= first < 1.5 * base


def test_the_defaults_try_for_about_a_day():
    policy = RetryPolicy()
    least = sum(policy.delay(n, lambda: 0.0) for n in range(1, policy.max_attempts))
    most = sum(policy.delay(n, lambda: 0.999) for n in range(1, policy.max_attempts))
    assert 18 * 3600 < least < most < 36 * 3600
    assert policy.gives_up(18) and not policy.gives_up(17)


# ------------------------------------------------------------------ OMS_SMTP_URL


@pytest.mark.parametrize(("url", "server"), [
    ("smtp://mail.example.com", SmtpServer("mail.example.com", 25, "plain")),
    ("smtp://127.0.0.1:2525", SmtpServer("127.0.0.1", 2525, "plain")),
    ("smtp+starttls://mail.example.com", SmtpServer("mail.example.com", 587, "starttls")),
    ("smtps://user%40example.com:p%3Ass%2Fw@mail.example.com",
     SmtpServer("mail.example.com", 465, "tls", "user@example.com", "p:ss/w")),
    ("SMTPS://u:@h:1", SmtpServer("h", 1, "tls", "u", "")),
])
def test_smtp_urls(url, server):
    assert parse_smtp_url(url) == server


@pytest.mark.parametrize(("url", "why"), [
    ("http://mail.example.com", "starts with"), ("smtp://", "names its host"), ("smtp://h:port", "port"),
    ("mail.example.com:25", "starts with"),
])
def test_a_wrong_smtp_url_says_what_is_wrong(url, why):
    with pytest.raises(ValueError, match=why):
        parse_smtp_url(url)


def test_the_server_is_named_without_its_password():
    assert "secret" not in str(parse_smtp_url("smtps://me:secret@mail.example.com"))
    assert "secret" not in repr(parse_smtp_url("smtps://me:secret@mail.example.com"))


def test_settings_refuse_what_could_never_send_and_never_echo_a_password():
    from pydantic import ValidationError

    from infrastructure.settings import Settings

    with pytest.raises(ValidationError, match="an SMTP URL starts with") as wrong:
        Settings(smtp_url="http://user:hunter2@mail.example.com")
    assert "hunter2" not in str(wrong.value)
    with pytest.raises(ValidationError, match="OMS_MAIL_FROM is an e-mail address"):
        Settings(mail_from="Example Shop")
    with pytest.raises(ValidationError, match="OMS_TWILIO_ACCOUNT_SID"):
        Settings(sms_provider="twilio", twilio_account_sid="AC1")
    assert Settings(smtp_url="smtps://me:hunter2@mail.example.com").smtp_url.get_secret_value().endswith("example.com")
