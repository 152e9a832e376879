"""What the service errors say: their text is shown to the person as it is (state handlers
put ``str(exc)`` in a toast or next to a form)."""

from __future__ import annotations

from chatapp.services.errors import FieldErrors, ServiceError, Unavailable


def test_field_errors_say_every_message_and_keep_them_per_field() -> None:
    exc = FieldErrors({"username": "That username is taken.", "email": "Enter a valid email."})
    assert str(exc) == "That username is taken.; Enter a valid email."
    assert exc.errors == {"username": "That username is taken.", "email": "Enter a valid email."}
    assert isinstance(exc, ServiceError)


def test_an_outage_says_so_unless_told_otherwise() -> None:
    assert "database" in str(Unavailable())
    assert str(Unavailable("Redis is down.")) == "Redis is down."
    assert isinstance(Unavailable(), ServiceError)
