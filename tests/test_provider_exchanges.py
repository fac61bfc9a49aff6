"""Every real recorded provider response a backend can receive, replayed through the official SDK.

The exchanges are ../shared/data/provider_exchanges (SOURCE.md there says where each comes from and what
a naive client gets wrong). Each row below is served by the loopback ReplayServer to the real SDK: the
``openai`` SDK (through OpenAICompatibleBackend, and its stream reader for the recorded SSE streams), the
``anthropic`` SDK (through AnthropicBackend,
and its stream helper for the recorded SSE streams) and ``google-genai`` (through GeminiBackend). The row
states the normal form the translation must give, with the values as they stand in the recorded body:
answer text, whether reasoning is kept (and never inside the answer), reasoning tokens, finish reason,
the refusal reason, the model version, and the status and value the decision layer (elicit.outcome) stores
for it (the recorded prompts are not survey items, so few are valid: what matters is that none reads the
reasoning, blocks are refusals and a budget spent on thinking is no_answer_budget). Error rows state how
models.errors reads the error. Then: every recorded reasoning body with its answer replaced by "4" still
gives 4 (the reasoning, full of other numbers, is never parsed); a budget spent on thinking is asked again
doubled up to the cap, then stops; and a whole study run on recorded Anthropic and Gemini reasoning bodies
stores each answer with its reasoning beside it.
Gemini batch result lines are files, not HTTP: they go through the translator directly.

A final test checks that every file in the folder is either in the table or listed, with its reason,
as not replayable (SDK print-outs, a legacy /v1/completions body no backend requests).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass, replace
from typing import Any

import pytest

from exchange_helpers import exchange_path, full_collection, llamacpp_body, load_exchange
from whosevalues.elicit.answering import answer
from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.limits import ModelGate
from whosevalues.elicit.outcome import decide
from whosevalues.elicit.parse import parse_answer
from whosevalues.models.anthropic_backend import AnthropicBackend, translate_message
from whosevalues.models.base import BackendError, ChatRequest, ProviderReply
from whosevalues.models.catalog import resolve_model
from whosevalues.models.gemini_backend import GeminiBackend, translate_generate_content
from whosevalues.models.openai_compatible import OpenAICompatibleBackend
from whosevalues.models.openai_format import translate_chat_completion
from whosevalues.models.spec import ModelSpec
from whosevalues.pipeline import run_study
from whosevalues.study import Study
from whosevalues.testing import ReplayServer

pytestmark = pytest.mark.needs("openai", "anthropic", "google.genai")  # the providers' official SDKs

FAKE_KEY = "sk-FAKE-provider-exchanges-0123456789"
SONNET_45 = "claude-sonnet-4-5-20250929"
REQUEST = ChatRequest(key="m|mfq2|care_1|en|none|0", system="You are a survey respondent.",
                      user="How much do you agree? Answer with one number from 1 to 5.", mode="sample",
                      scale_min=1, scale_max=5, temperature=None, max_tokens=64, seed=7)


@dataclass(frozen=True)
class Starts:
    """An answer long enough that its start identifies it."""
    prefix: str


@dataclass(frozen=True)
class Reply:
    """The normal form expected from a 200, and what the decision layer stores for it (``status``, and
    ``value`` for a valid answer). ``reasoning``: True kept apart from the answer, False none (None or "")."""
    answer: str | Starts | None
    finish: str
    status: str
    reasoning: bool = False
    reasoning_tokens: int | None = None
    model: str | None = None
    refusal: str | None = None  # a part of the refusal reason
    positions: int | None = None  # number of token positions read
    value: float | None = None


@dataclass(frozen=True)
class Error:
    """How models.errors must read an error response."""
    status: int
    reason: str
    retryable: bool
    param: str | None = None
    retry_after: float | None = None
    content_filter: bool = False


@dataclass(frozen=True)
class Row:
    name: str
    via: str  # openai | openai-stream | anthropic | anthropic-stream | gemini | gemini-batch-line
    expect: Reply | Error
    interaction: int = -1

    @property
    def id(self) -> str:
        return f"{self.name}#{self.interaction}" if self.interaction != -1 else self.name


TABLE = [
    # ---- OpenAI chat-completions format: reasoning in its three homes, never parsed as the answer
    Row("deepseek_reasoner_reasoning_content.yaml", "openai",
        Reply(Starts("Crossing the street safely"), "stop", "no_number", True, 415, "deepseek-reasoner")),
    Row("deepseek_reasoner_reasoning_v3.2.json", "openai",
        Reply(Starts('The word "strawberry" contains three'), "stop", "no_number", True, 315, "deepseek-reasoner")),
    Row("dashscope_qwen3max_reasoning_content.json", "openai",
        Reply(Starts('The word **"strawberry"** contains **3**'), "stop", "ambiguous", True, 1353, "qwen3-max")),
    Row("zhipu_glm4.7_thinking_reasoning_content.yaml", "openai",
        Reply("2 + 2 is 4.", "stop", "ambiguous", True, 237, "glm-4.7")),
    Row("zhipu_glm4.7_default_thinks.yaml", "openai", Reply("2 + 2 is 4.", "stop", "ambiguous", True, 427, "glm-4.7")),
    Row("ollama_qwen3_0.6b_reasoning_field.yaml", "openai",
        Reply('{ "city": "Paris", "country": "France" }', "stop", "no_number", True, None, "qwen3:0.6b")),
    Row("llamacpp_qwen3_4b_reasoning_content.json", "openai",
        Reply(Starts("If you were born in 1990, you would be **34 years old"), "stop", "ambiguous", True)),
    Row("vllm_qwen3_0.6b_think_inline_no_parser.json", "openai",
        Reply("", "other", "no_number", True, None, "Qwen/Qwen3-0.6B")),
    Row("vllm_qwen3_0.6b_json_schema_no_think.json", "openai",
        Reply(Starts('{"first_name": "Michael"'), "stop", "out_of_range", False, None, "Qwen/Qwen3-0.6B")),
    Row("groq_deepseek_r1_distill_think_tags_inline.yaml", "openai",
        Reply(Starts("To make Uruguayan alfajores, follow these organized steps"), "stop", "out_of_range", True,
              None, "deepseek-r1-distill-llama-70b"), interaction=0),
    Row("groq_deepseek_r1_distill_think_tags_inline.yaml", "openai",
        Reply(Starts("To create authentic Argentinian alfajores"), "stop", "out_of_range", True, None,
              "deepseek-r1-distill-llama-70b"), interaction=1),
    Row("deepinfra_deepseek_r1_empty_think_truncated.yaml", "openai",
        Reply("Hello! How can I assist", "length", "no_number", False, None, "deepseek-ai/DeepSeek-R1")),
    Row("openai_o3mini_max_completion_tokens_reasoning.yaml", "openai",
        Reply("Hello there! How can I help you today?", "stop", "no_number", False, 64, "o3-mini-2025-01-31")),
    Row("openai_o3mini_reasoning_tokens_192.yaml", "openai",
        Reply(Starts("The capital of Mexico is Mexico City."), "stop", "no_number", False, 192, "o3-mini-2025-01-31")),
    Row("openai_gpt5_chat_reasoning_usage.yaml", "openai",
        Reply("Paris.", "stop", "no_number", False, 0, "gpt-5-2025-08-07")),
    # ---- plain answers, odd envelopes, logprobs
    Row("openai_gpt4.1nano_chat_text.json", "openai",
        Reply(Starts("**Holiday Name:** Galaxy Day"), "stop", "ambiguous", False, 0, "gpt-4.1-nano-2025-04-14")),
    Row("dashscope_qwen_text.json", "openai",
        Reply(Starts("## The Festival of Forgotten Things"), "stop", "ambiguous", model="qwen3-max")),
    Row("zhipu_glm4air_chat_200.yaml", "openai",  # "I am an AI assistant": the parser's refusal phrase
        Reply("你好👋！我是人工智能助手智谱清言（ChatGLM），很高兴见到你，欢迎问我任何问题。", "stop", "refusal",
              model="glm-4-air")),
    Row("together_200_retry_after_on_success.yaml", "openai",
        Reply(Starts("It's nice to meet you."), "stop", "no_number",
              model="meta-llama/Llama-3.3-70B-Instruct-Turbo-Free")),
    Row("deepseek_chat_length_finish_under_limit.yaml", "openai",
        Reply("Hello! How can I assist you today?", "length", "no_number", model="deepseek-chat")),
    Row("deepseek_v4flash_logprobs_top1.json", "openai",
        Reply("OK", "stop", "no_number", model="deepseek-v4-flash", positions=1)),
    Row("llamacpp_qwen3_0.6b_chat_logprobs_top5.json", "openai",
        Reply(Starts("1. **The History of Apples**"), "stop", "ambiguous", positions=729)),
    # ---- OpenAI-format streams (the SDK's own SSE reader; chunks merged by openai_format)
    Row("deepseek_reasoner_stream.chunks.txt", "openai-stream",
        Reply('The word "strawberry" contains three "r"s.', "stop", "no_number", True, 205, "deepseek-reasoner")),
    Row("dashscope_qwen3max_reasoning_stream.chunks.txt", "openai-stream",
        Reply(Starts('The word **"strawberry"** contains **3**'), "stop", "ambiguous", True, 1084, "qwen3-max")),
    Row("deepseek_v4flash_logprobs_stream.chunks.txt", "openai-stream",
        Reply("OK", "stop", "no_number", model="deepseek-v4-flash", positions=1)),
    Row("deepseek_chat_stream_chunk_top5_logprobs.json", "openai-stream",
        Reply("Hello", "other", "no_number", model="deepseek-chat", positions=1)),
    Row("azure_openai_stream_prompt_filter_first_chunk.chunks.txt", "openai-stream",
        Reply(Starts("Capital"), "stop", "no_number", False, 64, "gpt-5-nano-2025-08-07")),
    # ---- OpenAI-format errors (through OpenAICompatibleBackend's status-error path)
    Row("openai_400_max_tokens_o1_with_headers.yaml", "openai",
        Error(400, "unsupported_parameter", False, "max_tokens")),
    Row("openai_400_max_tokens_unsupported_reasoning.json", "openai",
        Error(400, "unsupported_parameter", False, "max_tokens")),
    Row("openai_o1mini_400_system_role.yaml", "openai", Error(400, "unsupported_parameter", False, "system_role")),
    Row("openai_gpt4o_400_param_not_supported.yaml", "openai",
        Error(400, "unsupported_parameter", False, "web_search_options")),
    Row("openai_500_model_error_o1mini.yaml", "openai", Error(500, "server_error", True)),
    Row("moonshot_500_unsupported_image_url.yaml", "openai", Error(500, "bad_input", False)),
    Row("moonshot_400_n_gt_1_needs_temperature.yaml", "openai", Error(400, "unsupported_parameter", False, "n")),
    Row("moonshot_400_empty_user_content.yaml", "openai", Error(400, "invalid_request", False)),
    Row("moonshot_403_completions_not_open.yaml", "openai", Error(403, "forbidden", False)),
    Row("zhipu_429_code1305_chinese_message.yaml", "openai", Error(429, "rate_limit", True)),
    Row("zhipu_400_java_json_parse_error.yaml", "openai", Error(400, "unsupported_parameter", False, "stop")),
    Row("openrouter_429_upstream_rate_limited.yaml", "openai", Error(429, "rate_limit", True)),
    Row("together_429_model_rate_limit_retry_after.yaml", "openai",
        Error(429, "rate_limit", True, retry_after=3.0)),
    Row("together_429_rate_limit_on_stream_request.yaml", "openai",
        Error(429, "rate_limit", True, retry_after=5.0)),
    Row("together_422_validation_has_retry_after.yaml", "openai", Error(422, "invalid_request", False)),
    Row("gemini_openai_compat_400_array_wrapped_error.yaml", "openai", Error(400, "invalid_request", False)),
    # ---- Anthropic Messages
    Row("anthropic_sonnet45_thinking_blocks.yaml", "anthropic",
        Reply(Starts("Here's how to cross the street safely"), "stop", "no_number", True, None, SONNET_45),
        interaction=0),
    Row("anthropic_sonnet45_thinking_blocks.yaml", "anthropic",
        Reply(Starts("# How to Cross a River"), "stop", "no_number", True, None, SONNET_45), interaction=1),
    Row("anthropic_sonnet45_redacted_thinking.yaml", "anthropic",  # the model says it is "not able": a refusal
        Reply(Starts("I notice that your message appears to contain"), "stop", "refusal", True, None, SONNET_45),
        interaction=0),
    Row("anthropic_sonnet45_redacted_thinking.yaml", "anthropic",
        Reply(Starts("That message appeared to be an attempt"), "stop", "no_number", True, None, SONNET_45),
        interaction=1),
    Row("anthropic_opus46_adaptive_thinking_stream.yaml", "anthropic-stream",
        Reply("1. **Captain Scoop**\n2. **Gullet**", "stop", "ambiguous", True, None, "claude-opus-4-6")),
    Row("anthropic_sonnet45_thinking_stream_ratelimit_headers.yaml", "anthropic-stream",
        Reply("- Captain\n- Scoop", "stop", "no_number", True, None, SONNET_45)),
    Row("anthropic_200_with_retry_after_header.yaml", "anthropic-stream",
        Reply(Starts("This image shows a **brown pelican**"), "stop", "no_number", False, None, SONNET_45)),
    Row("anthropic_404_not_found_error.yaml", "anthropic", Error(404, "not_found", False)),
    Row("anthropic_400_invalid_request_effort.yaml", "anthropic", Error(400, "invalid_request", False)),
    # ---- Gemini generateContent
    Row("gemini_2.5flash_thoughts_not_in_candidates.yaml", "gemini",  # "As an AI, I don't...": a refusal phrase
        Reply(Starts("As an AI, I don't retain memory"), "stop", "refusal", False, 699, "gemini-2.5-flash")),
    Row("gemini_2.5pro_thinking_hidden_thoughts.yaml", "gemini",
        Reply("The capital of France is **Paris**.", "stop", "no_number", False, 275, "models/gemini-2.5-pro")),
    Row("gemini_2.5pro_max_tokens_empty_parts.yaml", "gemini",
        Reply(None, "length", "no_answer_budget", False, 2, "gemini-2.5-pro")),
    Row("gemini_2.5flash_max_tokens_partial_text.yaml", "gemini",
        Reply("The capital of France is", "length", "no_number", False, None, "gemini-2.5-flash")),
    Row("gemini_2.5flash_prompt_blocked_no_candidates.yaml", "gemini",
        Reply(None, "content_filter", "refusal", model="gemini-2.5-flash", refusal="Prompt Injection and Jailbreak")),
    Row("gemini_2.5flash_response_blocked_no_content.yaml", "gemini",
        Reply(None, "content_filter", "refusal", False, 27, "gemini-2.5-flash", refusal="MODEL_ARMOR")),
    Row("gemini_1.5flash_safety_block_finish.yaml", "gemini",
        Reply(None, "content_filter", "refusal", model="gemini-1.5-flash", refusal="HARM_CATEGORY_HATE_SPEECH LOW")),
    Row("gemini_pro_prompt_blocked_safety_raw.json", "gemini",
        Reply(None, "content_filter", "refusal", refusal="HARM_CATEGORY_HARASSMENT MEDIUM")),
    Row("gemini_2.5flash_vertex_logprobs_structure.yaml", "gemini",
        Reply("Hello", "stop", "no_number", False, 23, "gemini-2.5-flash", positions=1)),
    Row("gemini_2.5flash_vertex_logprobs_top2_hello.yaml", "gemini",
        Reply("Hello", "stop", "no_number", False, 17, "gemini-2.5-flash", positions=1)),
    Row("gemini_2.5flash_vertex_logprobs_top5.yaml", "gemini",
        Reply("2 + 2 = 4", "stop", "ambiguous", False, 73, "gemini-2.5-flash", positions=7)),
    Row("gemini_2.5flash_vertex_logprobs_no_top.yaml", "gemini",
        Reply("2 + 2 = 4", "stop", "ambiguous", False, 17, "gemini-2.5-flash", positions=7)),
    Row("gemini_400_invalid_argument_field_violations.json", "gemini",
        Error(400, "unsupported_parameter", False, "generation_config")),
    Row("gemini_batch_file_results.jsonl", "gemini-batch-line",
        Reply("AI learns patterns from data to make decisions or predictions.", "stop", "no_number", False, 829,
              "gemini-2.5-flash"), interaction=0),
    Row("gemini_batch_file_results.jsonl", "gemini-batch-line",
        Reply(Starts("Quantum computers use **qubits**"), "stop", "ambiguous", False, 1180, "gemini-2.5-flash"),
        interaction=1),
]

NOT_REPLAYED = {
    "SOURCE.md": "the provenance notes",
    "openai_chat_top_logprobs_cookbook_printout.txt": "printed SDK values, not a body (tests/test_openai_format.py "
                                                       "rebuilds its split emoji bytes)",
    "openai_batch_object_sdk_repr.txt": "an SDK repr of a batch object (batch helper)",
    "anthropic_message_batch_lifecycle_sdk_repr.txt": "an SDK repr of batch objects (batch helper)",
    "vllm_qwen3_0.6b_guided_choice_completion.json": "legacy /v1/completions, which no backend requests "
                                                      "(translate_chat_completion reads it: test_openai_format.py)",
}


# ---------------------------------------------------------------- running one row

def served(row: Row) -> dict[str, Any]:
    if row.name.startswith("llamacpp_"):  # a log of the SDK's model_dump: the envelope is ours
        return {"status": 200, "headers": {"content-type": "application/json"},
                "body": json.dumps(llamacpp_body(row.name))}
    if row.via == "openai-stream" and row.name.endswith(".json"):  # one recorded chunk, as a stream
        chunk = json.loads(exchange_path(row.name).read_text())
        return {"status": 200, "headers": {"content-type": "text/event-stream"},
                "body": f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"}
    return load_exchange(row.name, row.interaction)


def run(row: Row, monkeypatch) -> ProviderReply | BackendError:
    if row.via == "gemini-batch-line":
        line = exchange_path(row.name).read_text().splitlines()[row.interaction]
        return translate_generate_content(json.loads(line)["response"], line)
    with ReplayServer([served(row)]) as server:
        try:
            return asyncio.run(_VIA[row.via](server.url, monkeypatch))
        except BackendError as exc:
            return exc


async def via_openai(url: str, monkeypatch) -> ProviderReply:
    backend = openai_backend(url, monkeypatch)
    try:
        return await backend.complete(REQUEST)
    finally:
        await backend.aclose()


async def via_openai_stream(url: str, monkeypatch) -> ProviderReply:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key=FAKE_KEY, max_retries=0)
    try:
        stream = await client.chat.completions.create(model="m", stream=True,
                                                      messages=[{"role": "user", "content": REQUEST.user}])
        chunks = [chunk.model_dump() async for chunk in stream]
    finally:
        await client.close()
    return translate_chat_completion(chunks, json.dumps(chunks))


async def via_anthropic(url: str, monkeypatch) -> ProviderReply:
    backend = anthropic_backend(url, monkeypatch)
    try:
        return await backend.complete(REQUEST)
    finally:
        await backend.aclose()


async def via_anthropic_stream(url: str, monkeypatch) -> ProviderReply:
    import anthropic

    client = anthropic.AsyncAnthropic(base_url=url, api_key=FAKE_KEY, max_retries=0)
    try:
        async with client.messages.stream(model="claude-x", max_tokens=REQUEST.max_tokens,
                                          messages=[{"role": "user", "content": REQUEST.user}]) as stream:
            message = await stream.get_final_message()
    finally:
        await client.close()
    body = message.model_dump(mode="json")
    return translate_message(body, json.dumps(body))


async def via_gemini(url: str, monkeypatch) -> ProviderReply:
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    backend = GeminiBackend(resolve_model("gemini-2.5-flash").model_copy(update={"base_url": url, "timeout": 5}))
    try:
        return await backend.complete(REQUEST)
    finally:
        await backend.aclose()


def openai_backend(url: str, monkeypatch) -> OpenAICompatibleBackend:
    monkeypatch.setenv("WV_TEST_KEY", FAKE_KEY)
    spec = resolve_model("gpt-4o").model_copy(update={"base_url": url, "api_key_env": "WV_TEST_KEY", "timeout": 5})
    return OpenAICompatibleBackend(spec)


def anthropic_backend(url: str, monkeypatch) -> AnthropicBackend:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    return AnthropicBackend(resolve_model("claude-opus-4").model_copy(update={"base_url": url, "timeout": 5}))


_VIA = {"openai": via_openai, "openai-stream": via_openai_stream, "anthropic": via_anthropic,
        "anthropic-stream": via_anthropic_stream, "gemini": via_gemini}


# ---------------------------------------------------------------- the table

@pytest.mark.slow
@pytest.mark.parametrize("row", TABLE, ids=[row.id for row in TABLE])
def test_exchange(row: Row, monkeypatch):
    result = run(row, monkeypatch)
    if isinstance(row.expect, Error):
        check_error(row.expect, result)
    else:
        check_reply(row.expect, result)


def check_reply(expect: Reply, reply: ProviderReply | BackendError) -> None:
    assert isinstance(reply, ProviderReply), f"expected a reply, got {reply!r}"
    if isinstance(expect.answer, Starts):
        assert reply.answer_text is not None and reply.answer_text.startswith(expect.answer.prefix)
    else:
        assert reply.answer_text == expect.answer
    for tag in ("<think>", "</think>"):
        assert tag not in (reply.answer_text or "")
    if expect.reasoning:
        assert reply.reasoned and (reply.reasoning_text or reply.extra.get("redacted_thinking_blocks"))
        if reply.reasoning_text and reply.answer_text:  # (the reasoning may draft the answer; not the reverse)
            assert reply.reasoning_text.strip() not in reply.answer_text
    else:
        assert not reply.reasoning_text
    assert reply.reasoned == bool(expect.reasoning or expect.reasoning_tokens)
    assert reply.reasoning_tokens == expect.reasoning_tokens
    assert reply.finish_reason == expect.finish
    assert reply.model_version == expect.model
    if expect.refusal is None:
        assert reply.refusal_reason is None
    else:
        assert expect.refusal in (reply.refusal_reason or "")
    if expect.positions is None:
        assert not reply.positions
    else:
        assert reply.positions is not None and len(reply.positions) == expect.positions
    assert reply.raw
    outcome = decide(reply, mode="sample", scale_min=REQUEST.scale_min, scale_max=REQUEST.scale_max)
    assert (outcome.status, outcome.value) == (expect.status, expect.value), outcome.detail


def check_error(expect: Error, error: ProviderReply | BackendError) -> None:
    assert isinstance(error, BackendError), f"expected an error, got {error!r}"
    read = error.error  # what models.errors read, carried by ProviderHTTPError
    assert (error.status, read.reason, error.retryable) == (expect.status, expect.reason, expect.retryable)
    assert read.param == expect.param and read.is_content_filter == expect.content_filter
    assert error.retry_after == expect.retry_after
    assert FAKE_KEY not in str(error) + (error.raw or "")


@pytest.mark.needs_shared
def test_every_recorded_file_is_replayed_or_says_why_not():
    names = {path.name for path in full_collection().iterdir()}
    covered = {row.name for row in TABLE}
    assert names - covered - set(NOT_REPLAYED) == set()
    assert covered | set(NOT_REPLAYED) <= names  # no row names a file that is gone


def test_a_temperature_the_study_set_is_reported_not_silently_dropped(monkeypatch):
    """The one departure the Anthropic translation layer itself causes (thinking on) is said."""
    backend = anthropic_backend("http://127.0.0.1:9", monkeypatch)
    backend.spec = backend.spec.model_copy(update={"thinking": "on", "api_model": "claude-sonnet-4-5"})
    notes = backend.departures(replace(REQUEST, temperature=0.7))
    assert any("0.7" in note for note in notes)


# ---------------------------------------------------------------- the reasoning is never the answer

def with_answer(row: Row, body: Any, answer: str) -> Any:
    """The recorded body with its answer text replaced and its reasoning kept as recorded."""
    if row.via == "anthropic":
        for block in body["content"]:
            if block.get("type") == "text" and block["text"].strip():
                block["text"] = answer
    elif row.via in ("gemini", "gemini-batch-line"):
        for part in body["candidates"][0]["content"]["parts"]:
            if not part.get("thought"):
                part["text"] = answer
    else:
        message = body["choices"][0]["message"]
        head, closing, _ = (message["content"] or "").rpartition("</think>")
        message["content"] = f"{head}{closing}\n\n{answer}" if closing else answer
    return body


def recorded_body(row: Row) -> Any:
    if row.via == "gemini-batch-line":
        return json.loads(exchange_path(row.name).read_text().splitlines()[row.interaction])["response"]
    return json.loads(served(row)["body"])


REASONING_ROWS = [row for row in TABLE if isinstance(row.expect, Reply) and row.expect.reasoning
                  and row.via in ("openai", "anthropic")]
TRANSLATE = {"openai": translate_chat_completion, "anthropic": translate_message}
TRANSLATE_ANY = {**TRANSLATE, "gemini": translate_generate_content}


@pytest.mark.parametrize("row", REASONING_ROWS, ids=[row.id for row in REASONING_ROWS])
def test_reasoning_full_of_numbers_is_never_parsed_as_the_answer(row):
    body = with_answer(row, recorded_body(row), "4")
    reply = TRANSLATE[row.via](body, json.dumps(body))
    outcome = decide(reply, mode="sample", scale_min=1, scale_max=5)
    assert (outcome.status, outcome.value) == ("valid", 4.0), outcome.detail
    if reply.reasoning_text:  # (reading the reasoning instead would not have given the answer)
        parsed = parse_answer(reply.reasoning_text, 1, 5)
        assert (parsed.status, parsed.value) != ("valid", 4)


@pytest.mark.slow
def test_a_budget_spent_on_thinking_is_asked_again_doubled_then_stops(monkeypatch):
    """Gemini 2.5 Pro's recorded MAX_TOKENS with no parts, every time: doubled up to the cap, then a status."""
    exchange = load_exchange("gemini_2.5pro_max_tokens_empty_parts.yaml")
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    with ReplayServer([exchange] * 10) as server:
        spec = resolve_model("gemini-2.5-flash").model_copy(
            update={"base_url": server.url, "timeout": 5, "reasoning_budget_cap": 64})
        backend = GeminiBackend(spec)

        async def go():
            try:
                return await answer(backend, replace(REQUEST, max_tokens=16), ModelGate(1), EndpointMemory(backend))
            finally:
                await backend.aclose()
        answered = asyncio.run(go())
    completion, outcome, attempts = answered.reply, answered.outcome, answered.attempts
    sent = [request["body"]["generationConfig"]["maxOutputTokens"] for request in server.received]
    assert sent == [16, 32, 64] and attempts == 3
    assert outcome.status == "no_answer_budget" and completion.reasoning_tokens == 2


# ---------------------------------------------------------------- a whole run on recorded bodies

@pytest.mark.slow
@pytest.mark.parametrize("row", [
    Row("anthropic_sonnet45_thinking_blocks.yaml", "anthropic", Reply(None, "stop", "valid"), interaction=0),
    Row("gemini_2.5flash_thoughts_not_in_candidates.yaml", "gemini", Reply(None, "stop", "valid")),
], ids=["anthropic-thinking-blocks", "gemini-hidden-thoughts"])
def test_a_study_run_stores_answers_and_reasoning_apart(row, tmp_path, monkeypatch):
    """``run_study`` on one survey, each item answered with the recorded reasoning body (answer set to 3):
    every answer valid 3, the reasoning (or its token count) stored beside it, the model version too."""
    recorded = recorded_body(row)
    body = json.dumps(with_answer(row, recorded, "3"))
    exchange = {"status": 200, "headers": {"content-type": "application/json"}, "body": body}
    provider = row.via
    monkeypatch.setenv("WV_TEST_KEY", FAKE_KEY)
    with ReplayServer([exchange] * 36) as server:
        spec = ModelSpec(id="recorded", provider=provider, base_url=server.url, api_model=f"{provider}-model",
                         origin="USA", api_key_env="WV_TEST_KEY", timeout=5)
        study = Study(models=["recorded"], custom_models={"recorded": spec}, surveys=["mfq2"], languages=["en"],
                      personas=["none"], samples=1, mode="sample", variants=["original"])
        run_study(study, tmp_path / "out", show_progress=False)
    with sqlite3.connect(tmp_path / "out" / "whosevalues.sqlite") as db:
        rows = db.execute("SELECT status, value, reasoning_text, reasoning_tokens, reasoned, model_version "
                          "FROM answers").fetchall()
    assert len(rows) == len(server.received) == 36
    translated = TRANSLATE_ANY[provider](recorded, "")
    for status, value, reasoning, tokens, reasoned, version in rows:
        assert (status, value, reasoned) == ("valid", 3.0, 1)
        assert (reasoning, tokens) == (translated.reasoning_text, translated.reasoning_tokens)
        assert version == translated.model_version
