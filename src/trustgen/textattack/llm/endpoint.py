"""An attacker LLM behind any OpenAI-compatible ``/v1/chat/completions`` endpoint (vLLM, llama.cpp's server,
``transformers serve``, a hosted model): base URL + model + key from an environment variable."""

from __future__ import annotations

import os
import time
from typing import Any

from trustgen.core.errors import TrustgenError

__all__ = ["OpenAIChatLLM", "wait_for_endpoint"]


class OpenAIChatLLM:
    """An OpenAI-compatible chat endpoint: ``POST {base}/chat/completions`` with ``n`` answers per request
    (servers that return fewer are asked again until ``n`` are in). The key is read from ``api_key_env``
    (unset: no Authorization header, as local servers need none). Sampling: temperature and top-p;
    the repetition penalty has no standard field and is not sent."""

    has_logits = False  # chat answers only: the LLM-search attacker uses generated rewrites

    def __init__(self, base_url: str, *, model: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 120.0, seed: int = 0, temperature: float = 0.7, top_p: float = 0.95) -> None:
        import httpx

        base = base_url.rstrip("/")
        self.base = base if base.endswith("/v1") else f"{base}/v1"
        key = os.environ.get(api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), headers=headers)
        self.temperature, self.top_p, self.seed = temperature, top_p, seed
        self.calls = 0
        self.context_length: int | None = None
        self.model = model or self._first_model()
        self.name = f"{self.base} ({self.model})"

    def _request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        import httpx

        url = f"{self.base}{path}"
        try:
            response = self.client.request(method, url, json=payload)
        except httpx.TimeoutException:
            raise TrustgenError(f"the LLM endpoint {url} did not answer within the timeout") from None
        except httpx.HTTPError as exc:
            raise TrustgenError(f"cannot reach the LLM endpoint {url}: {exc}") from None
        if response.status_code >= 400:
            detail = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
            raise TrustgenError(f"the LLM endpoint {url} answered HTTP {response.status_code}: {detail}")
        try:
            data = response.json()
        except ValueError:
            raise TrustgenError(f"the LLM endpoint {url} did not answer JSON") from None
        if not isinstance(data, dict):
            raise TrustgenError(f"the LLM endpoint {url} answered {type(data).__name__}, not an object")
        return data

    def _first_model(self) -> str:
        models = self._request("GET", "/models").get("data") or []
        if not models or not isinstance(models[0], dict) or "id" not in models[0]:
            raise TrustgenError(f"the LLM endpoint {self.base} lists no model: pass llm_model=NAME")
        return str(models[0]["id"])

    def reseed(self, seed: int) -> None:
        self.seed = seed

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 3)  # an upper-side estimate (English is about 4 characters per token)

    def complete(self, user: str, *, prefix: str = "", n: int = 1, max_new_tokens: int = 500) -> list[str]:
        answers: list[str] = []
        while len(answers) < n:
            payload = {"model": self.model, "messages": [{"role": "user", "content": user}],
                       "temperature": self.temperature, "top_p": self.top_p, "max_tokens": max_new_tokens,
                       "n": n - len(answers), "seed": self.seed + self.calls}
            self.calls += 1
            data = self._request("POST", "/chat/completions", payload)
            choices = data.get("choices") or []
            if not choices:
                raise TrustgenError(f"the LLM endpoint {self.base} answered without choices")
            for choice in choices[: n - len(answers)]:
                content = (choice.get("message") or {}).get("content") if isinstance(choice, dict) else None
                answers.append(str(content or ""))
        return answers


def wait_for_endpoint(base_url: str, timeout: float = 120.0) -> None:
    """Poll ``{base}/v1/models`` until it answers (for tests and scripts that start a server)."""
    import httpx

    base = base_url.rstrip("/")
    base = base if base.endswith("/v1") else f"{base}/v1"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/models", timeout=5.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TrustgenError(f"the LLM endpoint {base} did not come up within {timeout:.0f} s")
        time.sleep(1.0)
