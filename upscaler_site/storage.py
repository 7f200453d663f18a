"""Object storage (S3 and S3-compatible servers) for originals, results and thumbnails.

With ``AWS_STORAGE_BUCKET_NAME`` set, every host (web and workers) reads and writes user
files through :class:`ObjectStorage`, django-storages' ``S3Storage`` with two additions:

* :meth:`ObjectStorage.presigned_url`: a GET URL that expires, signed for the endpoint
  browsers reach (``AWS_S3_PUBLIC_ENDPOINT_URL``, when it is not the one the hosts use),
  with the Content-Type and Content-Disposition S3 must answer with. Result bytes go
  from the bucket to the client, never through the web tier.
* :meth:`ObjectStorage.stream`: an object's bytes in chunks as S3 sends them (the ZIP
  archive of a batch), where ``open()`` would first copy the whole object to a local file.

Nothing here imports the apps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class ObjectStorage(S3Storage):
    """``S3Storage`` that signs download URLs for a public endpoint and streams reads.

    Options: those of ``S3Storage`` (``bucket_name``, ``endpoint_url``, ``access_key``,
    ``secret_key``, ``region_name``, ``addressing_style``, ``querystring_expire`` ...), and
    ``public_endpoint_url``: the endpoint presigned URLs name (default: ``endpoint_url``).
    """

    def __init__(self, **settings: Any) -> None:
        self.public_endpoint_url: str | None = settings.pop("public_endpoint_url", None) or None
        super().__init__(**settings)
        self._public_client: Any = None

    def _signing_client(self) -> Any:
        if not self.public_endpoint_url or self.public_endpoint_url == self.endpoint_url:
            return self.connection.meta.client
        if self._public_client is None:
            session = self._create_session()
            self._public_client = session.client(
                "s3",
                region_name=self.region_name,
                use_ssl=self.use_ssl,
                endpoint_url=self.public_endpoint_url,
                config=self.client_config,
                verify=self.verify,
            )
        return self._public_client

    def presigned_url(self, name: str, *, content_type: str, disposition: str, expire: int | None = None) -> str:
        """A GET URL for ``name``, valid for ``expire`` seconds (default ``querystring_expire``), that makes
        S3 answer with ``content_type`` and the ``Content-Disposition`` ``disposition``."""
        params = {
            "Bucket": self.bucket_name,
            "Key": self._normalize_name(clean_name(name)),
            "ResponseContentType": content_type,
            "ResponseContentDisposition": disposition,
        }
        url: str = self._signing_client().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expire or self.querystring_expire
        )
        return url

    def stream(self, name: str, chunk_size: int) -> Iterator[bytes]:
        """The object's bytes, ``chunk_size`` at a time, as S3 sends them.

        Raises:
            FileNotFoundError: no such object.
        """
        try:
            body = self.bucket.Object(self._normalize_name(clean_name(name))).get()["Body"]
        except self.connection.meta.client.exceptions.NoSuchKey:
            raise FileNotFoundError(name) from None
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()
