"""A running `rag serve` used from a script or the CLI (no models loaded here): search and ask over HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag.schemas import AnswerRecord, SearchResult
from rag.types import Scope


class ServerError(RuntimeError):
    """The server refused or failed the request; the message says how."""


class Client:
    """`Client("http://127.0.0.1:7860", key).search("query")` / `.ask("question")`, as the HTTP API returns them."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 300.0) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=url.rstrip("/") + "/", headers=headers, timeout=timeout)

    def _post(self, path: str, body: dict) -> dict:
        import httpx

        try:
            response = self._http.post(path, json=body)
        except httpx.HTTPError as error:
            raise ServerError(f"{self._http.base_url}: {error}") from None
        if response.status_code != 200:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ServerError(f"{self._http.base_url}{path}: {response.status_code} {detail}")
        return response.json()

    def search(self, query: str, k: int = 5, mode: str | None = None, scope: Scope | None = None) -> SearchResult:
        body = {"query": query, "k": k, "mode": mode, **_scope_fields(scope)}
        return SearchResult.model_validate(self._post("v1/search", body))

    def ask(self, question: str, history: Sequence[str] = (), scope: Scope | None = None) -> AnswerRecord:
        body = {"question": question, "history": list(history), **_scope_fields(scope)}
        return AnswerRecord.model_validate(self._post("v1/ask", body))


def _scope_fields(scope: Scope | None) -> dict[str, Any]:
    """The request fields of a scope (exclusions stay local: the API does not take them)."""
    if scope is None:
        return {}
    return {"since": scope.since, "until": scope.until, "sources": list(scope.sources)}
