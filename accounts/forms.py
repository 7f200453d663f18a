"""Forms of the account pages (sign-up, login and email forms are allauth's)."""

from __future__ import annotations

from django import forms

from accounts.models import Ability, Membership, User, Workspace


class WorkspaceForm(forms.Form):
    """A new workspace."""

    name = forms.CharField(label="Workspace name", max_length=100, strip=True)


class InviteForm(forms.Form):
    """An invitation: who, and with which of the roles the inviter may grant."""

    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args, workspace: Workspace, roles: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self.fields["role"].choices = roles  # type: ignore[attr-defined]  # a ChoiceField
        self.fields["role"].initial = Membership.Role.MEMBER

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if self.workspace.memberships.filter(user__email__iexact=email).exists():
            raise forms.ValidationError("This person is already a member of the workspace.")
        return email


class RoleForm(forms.Form):
    """A role that a role change may set: admin or member (never owner)."""

    role = forms.ChoiceField(
        label="Role",
        choices=[(role.value, role.label) for role in (Membership.Role.ADMIN, Membership.Role.MEMBER)],
    )


class TokenForm(forms.Form):
    """A new API token of the current workspace."""

    name = forms.CharField(label="Name", max_length=100, help_text="What the token is for, e.g. “build server”.")
    abilities = forms.MultipleChoiceField(
        label="Abilities",
        choices=Ability.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Ability.IMAGES_READ, Ability.IMAGES_WRITE],
        error_messages={"required": "Choose at least one ability."},
    )
    expires_in_days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Leave empty for a token that does not expire.",
    )


class DeleteAccountForm(forms.Form):
    """Account deletion, confirmed by typing the password."""

    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("The password is not correct.")
        return password
