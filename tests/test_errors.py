"""read_error on the error bodies and rate-limit headers providers really sent (data/provider_exchanges),
and on the shapes SOURCE.md documents from public threads (written here from those notes)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from exchange_helpers import load_exchange
from whosevalues.models.errors import parse_duration, parse_retry_after, read_error, retry_after_from_headers


def error_of(name: str):
    exchange = load_exchange(name)
    return read_error(exchange["status"], exchange["body"], exchange["headers"]), exchange


@pytest.mark.parametrize("name, param", [
    ("openai_400_max_tokens_o1_with_headers.yaml", "max_tokens"),
    ("openai_400_max_tokens_unsupported_reasoning.json", "max_tokens"),
    ("openai_o1mini_400_system_role.yaml", "system_role"),
    ("moonshot_400_n_gt_1_needs_temperature.yaml", "n"),
    ("zhipu_400_java_json_parse_error.yaml", "stop"),
    ("openai_gpt4o_400_param_not_supported.yaml", "web_search_options"),
])
def test_rejected_parameter_is_named(name, param):
    error, exchange = error_of(name)
    assert error.param == param and not error.retryable and error.retry_after is None
    assert error.reason == "unsupported_parameter" and not error.is_content_filter
    assert error.message == json.loads(exchange["body"])["error"]["message"]


def test_parameter_named_only_in_the_message():
    text = json.dumps({"error": {"message": "Unsupported value: 'temperature' does not support 0.7 with this "
                                            "model. Only the default (1) value is supported.",
                                 "type": "invalid_request_error", "param": None, "code": "unsupported_value"}})
    assert read_error(400, text, {}).param == "temperature"
    text = json.dumps({"detail": "Invalid top_logprobs and logprobs value"})  # DeepSeek, FastAPI style
    error = read_error(400, text, {})
    assert error.param == "top_logprobs" and error.message == "Invalid top_logprobs and logprobs value"
    text = json.dumps({"error": {"message": "logprobs is not supported for this model", "code": None}})
    assert read_error(400, text, {}).param == "logprobs"
    text = json.dumps({"error": {"message": "'developer' role is not supported with this model"}})
    assert read_error(400, text, {}).param == "developer_role"


def test_final_4xx_ignores_retry_after():
    error, exchange = error_of("together_422_validation_has_retry_after.yaml")
    assert exchange["headers"]["retry-after"] == "2"
    assert not error.retryable and error.retry_after is None and error.reason == "invalid_request"


@pytest.mark.parametrize("name", ["together_429_model_rate_limit_retry_after.yaml",
                                  "together_429_rate_limit_on_stream_request.yaml"])
def test_together_429_waits_retry_after(name):
    error, exchange = error_of(name)
    assert error.retryable and error.reason == "rate_limit"
    assert error.retry_after == float(exchange["headers"]["retry-after"])


def test_zhipu_1305_chinese_is_a_retryable_rate_limit():
    error, exchange = error_of("zhipu_429_code1305_chinese_message.yaml")
    assert error.code == "1305" and error.retryable and error.reason == "rate_limit"
    assert error.message == json.loads(exchange["body"])["error"]["message"]
    assert error.retry_after is None  # no headers at all: the caller's backoff applies


def test_openrouter_integer_code_and_upstream_cause():
    error, exchange = error_of("openrouter_429_upstream_rate_limited.yaml")
    raw = json.loads(exchange["body"])["error"]["metadata"]["raw"]
    assert error.code == "429" and error.retryable and raw in error.message and "Google" in error.message


def test_gemini_array_wrapped_and_rpc_errors():
    error, exchange = error_of("gemini_openai_compat_400_array_wrapped_error.yaml")
    assert json.loads(exchange["body"])[0]["error"]["status"] == "INVALID_ARGUMENT"
    assert error.code == "INVALID_ARGUMENT" and error.message == "Please use a valid role: user, model."
    assert not error.retryable
    error, _ = error_of("gemini_400_invalid_argument_field_violations.json")
    assert error.code == "INVALID_ARGUMENT" and error.param == "generation_config" and not error.retryable


def test_gemini_retry_info_detail():
    body = {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                      "status": "RESOURCE_EXHAUSTED", "details": [
                          {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}
    error = read_error(429, json.dumps(body), {})
    assert error.retryable and error.retry_after == 37.0 and error.code == "RESOURCE_EXHAUSTED"


@pytest.mark.parametrize("name, kind", [("anthropic_404_not_found_error.yaml", "not_found"),
                                        ("anthropic_400_invalid_request_effort.yaml", "invalid_request")])
def test_anthropic_envelope(name, kind):
    error, exchange = error_of(name)
    inner = json.loads(exchange["body"])["error"]
    assert error.message == inner["message"] and error.code == inner["type"] and error.reason == kind
    assert not error.retryable


def test_anthropic_overloaded_529():
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_1"}
    error = read_error(529, json.dumps(body), {"retry-after": "4"})
    assert error.retryable and error.reason == "overloaded" and error.retry_after == 4.0


def test_moonshot_500_for_a_bad_input_is_not_retried_but_model_error_is():
    error, _ = error_of("moonshot_500_unsupported_image_url.yaml")
    assert error.reason == "bad_input" and not error.retryable
    error, _ = error_of("openai_500_model_error_o1mini.yaml")
    assert error.reason == "server_error" and error.retryable


def test_moonshot_403_and_empty_content_400():
    assert error_of("moonshot_403_completions_not_open.yaml")[0].reason == "forbidden"
    error, _ = error_of("moonshot_400_empty_user_content.yaml")
    assert error.reason == "invalid_request" and error.param is None and not error.retryable


@pytest.mark.parametrize("body", [
    {"error": {"code": "data_inspection_failed", "type": "data_inspection_failed",
               "message": "Input data may contain inappropriate content."}},       # DashScope compatible mode
    {"code": "DataInspectionFailed", "message": "Output data may contain inappropriate content.",
     "request_id": "x"},                                                             # DashScope native
    {"error": {"code": "1301", "message": "系统检测到输入或生成内容可能包含不安全或敏感内容，"
                                          "请您避免输入易产生敏感内容的提示语，感谢您的配合。"}},  # Zhipu
    {"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
                          "management policy.", "type": None, "param": "prompt", "code": "content_filter",
               "status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation"}}},  # Azure
    {"error": {"message": "The request was rejected because it was considered high risk",
               "type": "content_filter"}},                                           # Moonshot
])
def test_content_filters_are_recognised(body):
    error = read_error(400, json.dumps(body), {})
    assert error.is_content_filter and not error.retryable and error.reason == "content_filter"
    assert error.message and error.param is None


def test_quota_429_is_not_retried():
    body = {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota",
                      "code": "insufficient_quota"}}
    error = read_error(429, json.dumps(body), {"retry-after": "1"})
    assert error.reason == "no_credit" and not error.retryable and error.retry_after is None


def test_non_json_bodies():
    error = read_error(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", {})
    assert error.message == "502 Bad Gateway" and error.retryable
    assert read_error(503, None, {}).message == "HTTP 503"


# ---------------------------------------------------------------- headers

def test_openai_reset_durations_from_the_recording():
    exchange = load_exchange("openai_400_max_tokens_o1_with_headers.yaml")
    assert exchange["headers"]["x-ratelimit-reset-requests"] == "60ms"
    headers = dict(exchange["headers"], **{"x-ratelimit-remaining-requests": "0"})
    assert retry_after_from_headers(headers, 429) == pytest.approx(0.06)


@pytest.mark.parametrize("text, seconds", [("60ms", 0.06), ("0s", 0.0), ("6s", 6.0), ("1m30s", 90.0),
                                           ("2m59.56s", 179.56), ("1h", 3600.0), ("37s", 37.0)])
def test_go_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_duration_rejects_other_text():
    assert parse_duration("soon") is None and parse_duration("") is None


def test_reset_headers_pick_the_exhausted_bucket_else_the_longest():
    headers = {"x-ratelimit-remaining-requests": "10", "x-ratelimit-reset-requests": "1s",
               "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6s"}
    assert retry_after_from_headers(headers, 429) == 6.0
    headers["x-ratelimit-remaining-tokens"] = "5"
    headers["x-ratelimit-reset-requests"] = "1m30s"
    assert retry_after_from_headers(headers, 429) == 90.0
    assert retry_after_from_headers(headers, 500) is None  # resets only explain a 429


def test_anthropic_rfc3339_resets_from_the_recording():
    exchange = load_exchange("anthropic_sonnet45_thinking_stream_ratelimit_headers.yaml")
    resets = {k: v for k, v in exchange["headers"].items()
              if k.startswith("anthropic-ratelimit") and k.endswith("reset")}
    assert resets and all("T" in v for v in resets.values())  # RFC 3339 timestamps, long past now
    assert retry_after_from_headers(exchange["headers"], 429) == 0.0
    soon = (datetime.now(timezone.utc) + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    wait = retry_after_from_headers({"anthropic-ratelimit-requests-reset": soon,
                                     "anthropic-ratelimit-requests-remaining": "0"}, 429)
    assert 25 < wait <= 30


def test_retry_after_forms():
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
    assert 15 < parse_retry_after({"Retry-After": later}) <= 20
    assert parse_retry_after({"x-ratelimit-reset-requests": "6s"}) is None  # the old helper reads Retry-After only
    assert parse_retry_after(None) is None
    epoch = str(int(time.time()) + 10)
    assert 5 < retry_after_from_headers({"x-ratelimit-reset": epoch}, 429) <= 10



def test_a_parsed_body_is_read_too():
    body = {"error": {"message": "Unsupported parameter: 'seed'", "param": "seed"}}
    assert read_error(400, body).param == read_error(400, json.dumps(body)).param == "seed"
    assert read_error(400, [body]).message == "Unsupported parameter: 'seed'"
