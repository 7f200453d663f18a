"""Password rules beyond Django's own validators."""

from django.core.exceptions import ValidationError


class MixedCharactersValidator:
    """Require at least one lowercase letter, one uppercase letter and one digit."""

    message = "Your password must contain upper- and lowercase letters and at least one number."

    def validate(self, password: str, user=None) -> None:
        if not (
            any(c.islower() for c in password)
            and any(c.isupper() for c in password)
            and any(c.isdigit() for c in password)
        ):
            raise ValidationError(self.message, code="password_not_mixed")

    def get_help_text(self) -> str:
        return self.message
