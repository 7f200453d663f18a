"""Request serializers whose errors read like the documented API's.

DRF's stock messages ("This field is required.", ``"5" is not a valid choice.``) name
neither the field nor what it accepts, and echo the client's input back. The API we
are compatible with writes "The image field is required." and "The scale factor must
be 2, 3 or 4.": :class:`RequestSerializer` gives every field of a request such
messages, from its name and its own bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from django.utils.text import get_text_list
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import Field

from upscaler_site import outbound


def json_number(value: Decimal) -> int | float:
    """A decimal as JSON shows it: 9 when whole (as the documented API does), 9.5 otherwise."""
    return int(value) if value == value.to_integral_value() else float(value)


T = TypeVar("T")


class OutboundURLField(serializers.CharField):
    """An http(s) URL the service will send a request to (an image to fetch, a webhook): its form is checked
    here (:func:`upscaler_site.outbound.check_url`), its addresses when the request is sent."""

    def to_internal_value(self, data: Any) -> str:
        return checked(outbound.check_url, super().to_internal_value(data))


@extend_schema_field({"type": ["string", "null"], "format": "uri"})
class OptionalURLField(serializers.CharField):
    """A stored URL that may be blank, shown as null when it is (read only)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: str) -> str | None:  # type: ignore[override]  # null for blank
        return value or None


def checked(check: Callable[[Any], T], value: Any) -> T:
    """``check(value)``, a ``ValueError`` it raises turned into a validation error with its message."""
    try:
        return check(value)
    except ValueError as exc:
        raise serializers.ValidationError(str(exc)) from None


def one_of(choices: Any) -> str:
    """``[2, 3, 4]`` as "2, 3 or 4"."""
    return get_text_list([str(choice) for choice in choices], "or")


def documented_messages(name: str, field: Field) -> dict[str, str]:
    """The error messages for request field ``name``, keyed by DRF's error codes.

    Placeholders in braces (``{max_length}``) are DRF's; the client's input is never
    quoted back.
    """
    label = name.replace("_", " ")
    required = f"The {label} field is required."
    messages = {"required": required, "null": required, "blank": required}
    if isinstance(field, serializers.ChoiceField):
        messages["invalid_choice"] = f"The {label} must be {one_of(field.choices)}."
    elif isinstance(field, serializers.BooleanField):
        messages["invalid"] = f"The {label} field must be true or false."
    elif isinstance(field, serializers.IntegerField):
        low, high = field.min_value, field.max_value
        messages["invalid"] = messages["max_string_length"] = f"The {label} must be an integer."
        between = f"The {label} must be between {low} and {high}."
        messages["min_value"] = between if high is not None else f"The {label} must be at least {{min_value}}."
        messages["max_value"] = between if low is not None else f"The {label} must be at most {{max_value}}."
    elif isinstance(field, (serializers.DecimalField, serializers.FloatField)):
        bounds = field.min_value, field.max_value
        messages["invalid"] = messages["max_string_length"] = f"The {label} must be a number."
        messages["max_digits"] = messages["max_whole_digits"] = messages["invalid"]
        messages["max_decimal_places"] = f"The {label} may have at most {{max_decimal_places}} decimal places."
        between = f"The {label} must be between {bounds[0]:g} and {bounds[1]:g}." if None not in bounds else ""
        messages["min_value"] = between or f"The {label} must be at least {{min_value}}."
        messages["max_value"] = between or f"The {label} must be at most {{max_value}}."
    elif isinstance(field, serializers.EmailField):
        messages["invalid"] = f"The {label} must be a valid email address."
        messages["max_length"] = f"The {label} must not be longer than {{max_length}} characters."
    elif isinstance(field, serializers.CharField):
        messages["invalid"] = f"The {label} must be a string."
        messages["max_length"] = f"The {label} must not be longer than {{max_length}} characters."
        messages["min_length"] = f"The {label} must be at least {{min_length}} characters long."
    elif isinstance(field, serializers.FileField):
        messages["invalid"] = messages["no_name"] = f"The {label} must be a file."
        messages["empty"] = f"The {label} file is empty."
    elif isinstance(field, serializers.DateTimeField):
        messages["invalid"] = f"The {label} must be a date and time in ISO 8601, e.g. 2026-12-31T23:59:59Z."
    elif isinstance(field, serializers.ListField):
        messages["not_a_list"] = f"The {label} must be a list."
        messages["empty"] = required
    return messages


def _documented(name: str, field: Field, overrides: dict[str, str]) -> Field:
    # Validators (max_length, min_value, ...) format their message when the field is built,
    # so the field is built again rather than given new messages afterwards.
    if field.read_only:
        return field
    kwargs = dict(field._kwargs)  # type: ignore[attr-defined]
    if isinstance(field, serializers.ListField):
        kwargs["child"] = _documented(name, field.child, overrides)
    # A field's own messages win over ours; the serializer's overrides win over both.
    kwargs["error_messages"] = {**documented_messages(name, field), **kwargs.get("error_messages", {}), **overrides}
    return field.__class__(*field._args, **kwargs)  # type: ignore[attr-defined]


class RequestSerializer(serializers.Serializer[Any]):
    """A request body's serializer, its errors in the documented style (see the module).

    Subclasses adapt messages to the request (say, the scale factors of the caller's
    plan) by overriding :meth:`message_overrides`.
    """

    def message_overrides(self) -> dict[str, dict[str, str]]:
        """``{field: {error code: message}}`` replacing the documented messages."""
        return {}

    def get_fields(self) -> dict[str, Field]:
        overrides = self.message_overrides()
        return {name: _documented(name, field, overrides.get(name, {})) for name, field in super().get_fields().items()}
