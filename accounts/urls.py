from django.urls import path

from accounts import api

app_name = "accounts"

urlpatterns = [
    path("api/auth/register", api.RegisterView.as_view(), name="register"),
    path("api/auth/login", api.LoginView.as_view(), name="login"),
    path("api/auth/logout", api.LogoutView.as_view(), name="logout"),
    path("api/auth/revoke-all", api.RevokeAllView.as_view(), name="revoke-all"),
    path("api/user", api.UserView.as_view(), name="user"),
    path("api/user/tokens", api.TokenListView.as_view(), name="tokens"),
    path("api/user/tokens/<int:pk>", api.TokenDetailView.as_view(), name="token"),
]
