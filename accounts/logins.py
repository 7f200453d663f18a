"""Every password entry point counts its failures the same way: allauth's login pages, the API's
login and the admin's.

allauth's adapter counts failed logins per account (5 in 5 minutes) and per client IP (10 a
minute; IPv6 clients by their /64), in the shared cache, and forgets an account's failures
once it logs in. Its own pages use it; :func:`authenticate` gives the API and the admin the
same counters.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts.models import User

#: Seconds to wait after too many failures: the per-account window (``ACCOUNT_LOGIN_ATTEMPTS_TIMEOUT``).
RETRY_AFTER = 300
TOO_MANY = "Too many failed logins for this account or from your address. Try again in a few minutes."


class TooManyAttempts(Exception):
    """Too many failed logins for the account or from the client's address; the message is for the user."""


def authenticate(request: HttpRequest, email: str, password: str) -> User | None:
    """The user with this email address and password, or None; counted like allauth's login form.

    Raises:
        TooManyAttempts: the account or the client's address has failed too often; the
            password was not even checked.
    """
    try:
        user: Any = get_adapter(request).authenticate(request, email=email.lower(), password=password)
    except ValidationError:
        raise TooManyAttempts(TOO_MANY) from None
    # allauth's backend also hands back a deactivated account, for its own "inactive" page.
    return user if isinstance(user, User) and user.is_active else None


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's login form, counted by :func:`authenticate` (Django's own form counts nothing)."""

    def clean(self) -> dict[str, Any]:
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username and password:
            assert self.request is not None
            try:
                user = authenticate(self.request, username, password)
            except TooManyAttempts as exc:
                raise ValidationError(str(exc), code="too_many_attempts") from None
            if user is None:
                raise self.get_invalid_login_error()
            self.user_cache = user
            self.confirm_login_allowed(user)
        return self.cleaned_data
