"""Account-level failures: the answers that say every further request to a model would fail the same way.

No credit (OpenAI's 429 ``insufficient_quota``, DeepSeek's 402 "Insufficient Balance", Gemini's daily quota
used up), a key the provider rejects (401, or Gemini's 400 ``API_KEY_INVALID``), a model the account may not
use (403) or that does not exist (404): ``models.errors`` reads them (``ProviderError.account_level``),
``elicit.limits`` raises :class:`AccountFailure` at the first one instead of retrying, and the runner stops
that model for the rest of the run (requests in flight may finish), says so once with the fix, stores
nothing for the requests it did not ask (a rerun asks them), and the run ends with a non-zero exit code.
"""

from __future__ import annotations

from whosevalues.elicit.limits import AccountFailure  # noqa: F401 - raised by limits, named here for readers

#: what the user can do, per ``ProviderError.reason``
_FIXES = {
    "no_credit": "top up the account (billing) or raise its quota, then run the same command again",
    "unauthorized": "check the API key in {key_env} (it was rejected: wrong, expired or revoked)",
    "forbidden": "check that the key in {key_env} may use this model (the provider refused access)",
    "not_found": "check api_model {api_model!r} (and base_url): the provider does not know it or this "
                 "account may not use it",
}
_WHAT = {"no_credit": "the account has no credit or quota left", "unauthorized": "the API key was rejected",
         "forbidden": "the account may not use this model", "not_found": "the model was not found"}


def account_problem(model: str, message: str, reason: str, *, key_env: str | None, api_model: str | None) -> str:
    """The one line the terminal and the run notes show: the model, what is wrong, the provider's words
    (``message``), the fix (by ``reason``, as ``models.errors`` read it)."""
    fix = _FIXES.get(reason, "check the model's configuration").format(
        key_env=key_env or "the key variable", api_model=api_model)
    what = _WHAT.get(reason, "the provider refused every request")
    return (f"{model}: stopped, {what} (provider: {message}). Fix: {fix}. "
            "Its requests were not asked; a rerun asks them.")


def stop_for_account(memory, backend, message: str, reason: str) -> None:
    """Stop ``backend``'s model for the rest of the run (``EndpointMemory.stop_model``); the runner says it once."""
    memory.stop_model(account_problem(backend.spec.id, message, reason, key_env=backend.key_env(),
                                      api_model=backend.spec.api_model))
