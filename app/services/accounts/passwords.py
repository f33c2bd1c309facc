"""Password policy: long enough, never the username, not guessable (zxcvbn's estimate), and
machine-made first passwords for accounts an administrator creates in bulk."""
from __future__ import annotations

import secrets

from flask import current_app
from flask_babel import gettext as _
from zxcvbn import zxcvbn

from app.errors import ValidationFailed

MAX_PASSWORD_CHARS = 128
# zxcvbn refuses longer input; a passphrase whose first 72 characters are strong is strong.
ESTIMATED_CHARS = 72
# Words every OneWindow installation shares: a password built from them is guessable anywhere.
PRODUCT_WORDS = ("onewindow", "yichuangtong", "yichuang", "一窗通", "zhengwu", "dangan", "archive")


def password_problem(password: str, username: str = "", other_inputs: tuple[str, ...] = ()) -> str | None:
    """Why this password may not be used, in the user's language; None when it is good enough."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        return _("The password must have at least %(n)s characters.", n=minimum)
    if len(password) > MAX_PASSWORD_CHARS:
        return _("The password may have at most %(n)s characters.", n=MAX_PASSWORD_CHARS)
    name = username.strip().lower()
    if name and (password.lower() == name or (len(name) >= 3 and name in password.lower())):
        return _("The password must not contain the username.")
    inputs = [value for value in (username, *other_inputs, *PRODUCT_WORDS) if value]
    if zxcvbn(password[:ESTIMATED_CHARS], user_inputs=inputs)["score"] < current_app.config["PASSWORD_MIN_SCORE"]:
        return _("This password is too easy to guess: it is a common password or follows a known pattern. "
                 "Use a longer phrase of unrelated words, or mix in digits and symbols.")
    return None


def check_new_password(password: str, username: str = "", other_inputs: tuple[str, ...] = (),
                       field: str = "password") -> None:
    """Refuse (422, on `field`) a password the policy does not allow."""
    problem = password_problem(password, username, other_inputs)
    if problem:
        raise ValidationFailed(problem, {field: problem})


def temporary_password() -> str:
    """A random first password (about 95 bits) that its user must change at first login."""
    return secrets.token_urlsafe(12)


# A temporary password is random, so a fast hash is safe: no dictionary attack applies. Bulk imports
# of thousands of accounts would otherwise spend a tenth of a second of scrypt on each.
TEMPORARY_PASSWORD_HASH = "pbkdf2:sha256:1000"
