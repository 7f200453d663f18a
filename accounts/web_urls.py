"""URLs of the server-rendered account pages (allauth's own pages are under ``accounts/``)."""

from django.urls import path

from accounts import views

app_name = "accounts_web"

urlpatterns = [
    path("workspaces/switch", views.workspace_switch, name="workspace_switch"),
    path("workspaces/new", views.workspace_create, name="workspace_create"),
    path("workspace/members", views.workspace_members, name="workspace_members"),
    path("workspace/members/invite", views.member_invite, name="workspace_invite"),
    path("workspace/members/<int:user_id>/role", views.member_role, name="workspace_member_role"),
    path("workspace/members/<int:user_id>/remove", views.member_remove, name="workspace_member_remove"),
    path("workspace/invitations/<int:pk>/cancel", views.invitation_cancel, name="invitation_cancel"),
    path("invitations/<str:key>", views.invitation_accept, name="invitation_accept"),
    path("tokens", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke", views.token_revoke, name="token_revoke"),
    path("account", views.account, name="user_account"),
    path("account/delete", views.account_delete, name="user_account_delete"),
]
