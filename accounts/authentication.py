"""API authentication. Kept apart from views: DRF imports it while building APIView."""

from rest_framework.authentication import TokenAuthentication


class BearerTokenAuthentication(TokenAuthentication):
    """``Authorization: Bearer <token>``: DRF's token authentication with the OAuth 2 keyword."""

    keyword = "Bearer"
