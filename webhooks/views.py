"""The webhooks pages: add endpoints, send a test event, disable, rotate, inspect deliveries and redeliver."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import workspaces
from accounts.requests import AuthenticatedHttpRequest
from upscaler_site import outbound
from webhooks import endpoints, events
from webhooks.models import Endpoint, EventType, RequestSigningKeys

#: Session key holding a just-created (or rotated) endpoint secret until its page shows it once.
NEW_SECRET_SESSION_KEY = "new_webhook_secret"
#: Deliveries an endpoint's page shows, newest first (the API pages through all of them).
LOG_LENGTH = 50


def _check(check: object, value: object) -> object:
    try:
        return check(value)  # type: ignore[operator]
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class EndpointForm(forms.Form):
    url = forms.CharField(label="URL", max_length=2000, widget=forms.URLInput(attrs={"placeholder": "https://"}))
    description = forms.CharField(max_length=255, required=False)
    events = forms.MultipleChoiceField(
        choices=EventType.choices, widget=forms.CheckboxSelectMultiple, initial=EventType.values
    )
    headers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Authorization: Bearer …"}),
        help_text="Extra HTTP headers to send, one “Name: value” per line.",
    )

    def clean_url(self) -> object:
        return _check(outbound.check_url, self.cleaned_data["url"])  # the form field strips it

    def clean_headers(self) -> object:
        lines = [line for line in self.cleaned_data["headers"].splitlines() if line.strip()]
        if any(":" not in line for line in lines):
            raise ValidationError("Write each header as “Name: value”.")
        pairs = (line.split(":", 1) for line in lines)
        return _check(outbound.check_headers, {name.strip(): value.strip() for name, value in pairs})


def _endpoint(request: AuthenticatedHttpRequest, pk: object) -> Endpoint:
    return get_object_or_404(Endpoint.objects.in_workspace(workspaces.current_workspace(request)), pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def webhooks(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The workspace's endpoints, a form to add one, and the secret of per-request webhooks."""
    workspace = workspaces.current_workspace(request)
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        endpoint = endpoints.create(workspace, form.cleaned_data)
        request.session[NEW_SECRET_SESSION_KEY] = {"id": str(endpoint.pk), "secret": endpoint.secret}
        messages.success(request, f"Endpoint {endpoint.url} added.")
        return redirect("webhooks_web:endpoint", endpoint.pk)
    context = {
        "endpoints": Endpoint.objects.in_workspace(workspace),
        "form": form,
        "request_secret": RequestSigningKeys.of(workspace.pk).secret,
    }
    return render(request, "webhooks/webhooks.html", context)


@login_required
@require_http_methods(["GET"])
def endpoint(request: AuthenticatedHttpRequest, pk: str) -> HttpResponse:
    """One endpoint: its settings, its secret once after creation or rotation, and its delivery log."""
    found = _endpoint(request, pk)
    new_secret = request.session.pop(NEW_SECRET_SESSION_KEY, None)
    context = {
        "endpoint": found,
        "new_secret": new_secret["secret"] if new_secret and new_secret["id"] == str(found.pk) else None,
        "deliveries": found.deliveries.prefetch_related("attempt_log")[:LOG_LENGTH],
    }
    return render(request, "webhooks/endpoint.html", context)


@login_required
@require_POST
def endpoint_test(request: AuthenticatedHttpRequest, pk: str) -> HttpResponse:
    events.send_test(_endpoint(request, pk))
    messages.success(request, "Test event queued: it appears below once sent.")
    return redirect("webhooks_web:endpoint", pk)


@login_required
@require_POST
def endpoint_active(request: AuthenticatedHttpRequest, pk: str) -> HttpResponse:
    """Enable or disable (``active`` = "1" or "0") an endpoint."""
    found = _endpoint(request, pk)
    active = request.POST.get("active") == "1"
    endpoints.change(found, {"active": active})
    messages.success(request, f"Endpoint {'enabled' if active else 'disabled'}.")
    return redirect("webhooks_web:endpoint", pk)


@login_required
@require_POST
def endpoint_rotate(request: AuthenticatedHttpRequest, pk: str) -> HttpResponse:
    found = _endpoint(request, pk)
    request.session[NEW_SECRET_SESSION_KEY] = {"id": str(found.pk), "secret": found.rotate()}
    messages.success(request, "Secret rotated: the old one also signs deliveries for 24 hours.")
    return redirect("webhooks_web:endpoint", pk)


@login_required
@require_POST
def endpoint_delete(request: AuthenticatedHttpRequest, pk: str) -> HttpResponse:
    found = _endpoint(request, pk)
    found.delete()
    messages.success(request, f"Endpoint {found.url} deleted.")
    return redirect("webhooks_web:webhooks")


@login_required
@require_POST
def delivery_redeliver(request: AuthenticatedHttpRequest, pk: str, delivery_id: str) -> HttpResponse:
    events.redeliver(get_object_or_404(_endpoint(request, pk).deliveries, pk=delivery_id))
    messages.success(request, "Redelivery queued.")
    return redirect("webhooks_web:endpoint", pk)
