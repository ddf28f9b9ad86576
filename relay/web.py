"""The relay's web front for the browser viewer (issue 22): the page's static files and
the technician's sign-in, on the relay's own port and TLS, beside /v1/host, /v1/viewer,
/healthz and /metrics.

`WebFront.process_request` answers what is the page's (`None`: not a path of the page,
the gatekeeper goes on); relay/http.py calls it first and, for a viewer without a Bearer
token, `technician_for` with the sign-in cookie instead. Static files: relay/static_files.py;
sign-in: relay/signin.py; headers and the Content-Security-Policy: relay/web_headers.py.
"""

from __future__ import annotations

import http

from websockets.http11 import Request, Response

from relay.core import RelayCore
from relay.database import Technician
from relay.signin import SIGN_IN_PATH, SIGN_OUT_PATH, SignIn
from relay.static_files import load_static_files
from relay.web_headers import response, text_response


class WebFront:
    """The page and its sign-in, for one relay."""

    def __init__(self, core: RelayCore) -> None:
        config = core.config
        self._https = config.ssl_context is not None or config.behind_proxy
        self._files = load_static_files()
        self.sign_in = SignIn(core, https=self._https)

    async def process_request(self, request: Request, path: str, ip: str) -> Response | None:
        method = getattr(request, "method", "GET")
        if path == SIGN_IN_PATH:
            if method == "POST":
                return await self.sign_in.sign_in(request, ip)
            if method == "GET":
                return await self.sign_in.status(request, ip)
            return self._not_allowed("GET, POST")
        if path == SIGN_OUT_PATH:
            if method == "POST":
                return await self.sign_in.sign_out(request, ip)
            return self._not_allowed("POST")
        found = self._files.get(path)
        if found is None:
            return None
        if method not in ("GET", "HEAD"):
            return self._not_allowed("GET, HEAD")
        if found.etag in request.headers.get_all("If-None-Match"):
            return response(
                http.HTTPStatus.NOT_MODIFIED, b"", found.content_type, https=self._https,
                extra=[("ETag", found.etag), ("Cache-Control", "no-cache")],
            )  # fmt: skip
        return response(
            http.HTTPStatus.OK, found.body, found.content_type, https=self._https,
            extra=[("ETag", found.etag), ("Cache-Control", "no-cache")],
            head_only=method == "HEAD",
        )  # fmt: skip

    def _not_allowed(self, allowed: str) -> Response:
        answer = text_response(
            http.HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed\n", https=self._https
        )
        answer.headers["Allow"] = allowed
        return answer

    async def technician_for(self, request: Request) -> Technician | None:
        """The signed-in technician of a /v1/viewer upgrade from the relay's own page."""
        return await self.sign_in.technician_for(request)
