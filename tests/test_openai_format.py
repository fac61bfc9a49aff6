"""translate_chat_completion on the chat-completions bodies providers really sent (data/provider_exchanges),
plus the shapes SOURCE.md documents but no licensed recording holds (written here from those notes)."""

from __future__ import annotations

import json
import math

import pytest

from exchange_helpers import exchange_path, llamacpp_body, load_exchange
from whosevalues.models.openai_format import merge_stream_chunks, split_think_tags, translate_chat_completion


def reply_of(name: str, interaction: int = -1):
    exchange = load_exchange(name, interaction)
    return translate_chat_completion(json.loads(exchange["body"]), exchange["body"]), json.loads(exchange["body"])


def message_of(body: dict) -> dict:
    return body["choices"][0]["message"]


# ---------------------------------------------------------------- reasoning in its four homes

@pytest.mark.parametrize("name, field", [
    ("deepseek_reasoner_reasoning_content.yaml", "reasoning_content"),
    ("deepseek_reasoner_reasoning_v3.2.json", "reasoning_content"),
    ("dashscope_qwen3max_reasoning_content.json", "reasoning_content"),
    ("zhipu_glm4.7_thinking_reasoning_content.yaml", "reasoning_content"),
    ("zhipu_glm4.7_default_thinks.yaml", "reasoning_content"),
    ("ollama_qwen3_0.6b_reasoning_field.yaml", "reasoning"),
])
def test_reasoning_field_is_kept_apart_from_the_answer(name, field):
    reply, body = reply_of(name)
    message = message_of(body)
    assert reply.answer_text == message["content"]
    assert reply.reasoning_text == message[field] and reply.reasoned
    assert reply.reasoning_text not in reply.answer_text
    details = (body.get("usage") or {}).get("completion_tokens_details") or {}
    assert reply.reasoning_tokens == details.get("reasoning_tokens")  # Ollama sends none: None
    assert reply.model_version == body["model"] and reply.finish_reason == "stop"


def test_llamacpp_reasoning_content():
    body = llamacpp_body("llamacpp_qwen3_4b_reasoning_content.json")
    reply = translate_chat_completion(body, json.dumps(body))
    assert reply.answer_text == message_of(body)["content"]
    assert reply.reasoning_text == message_of(body)["reasoning_content"] and reply.reasoned


def test_inline_think_from_vllm_without_a_parser():
    reply, body = reply_of("vllm_qwen3_0.6b_think_inline_no_parser.json")
    content = message_of(body)["content"]
    inner = content.split("<think>", 1)[1].split("</think>", 1)[0]
    assert reply.reasoning_text == inner.strip("\n")
    assert reply.answer_text == ""  # the rest is the tool call
    assert "<think>" not in reply.answer_text and reply.reasoned
    assert reply.provider_finish_reason == "tool_calls" and reply.finish_reason == "other"


def test_inline_think_from_groq_raw_format():
    reply, body = reply_of("groq_deepseek_r1_distill_think_tags_inline.yaml", 0)
    content = message_of(body)["content"]
    assert content.startswith("<think>")
    assert reply.answer_text == content.split("</think>", 1)[1].lstrip()
    assert "think>" not in reply.answer_text and "think>" not in reply.reasoning_text
    assert len(reply.reasoning_text) > 100 and reply.reasoned


def test_empty_think_prefix_and_length_finish_from_deepinfra():
    reply, body = reply_of("deepinfra_deepseek_r1_empty_think_truncated.yaml")
    assert reply.answer_text == message_of(body)["content"].split("</think>", 1)[1].lstrip()
    assert reply.reasoning_text == "" and not reply.reasoned  # an empty <think> block: no thinking done
    assert reply.finish_reason == "length" and reply.output_tokens == body["usage"]["completion_tokens"]


def test_think_tag_edge_cases():
    # budget ran out while thinking: all of it is reasoning, the answer is empty
    assert split_think_tags("<think>\nLet me weigh 3 against 4") == ("", ["Let me weigh 3 against 4"])
    # the chat template opened <think> in the prompt: only the closing tag arrives
    assert split_think_tags("I think 2 fits.\n</think>\n\n4") == ("4", ["I think 2 fits."])
    # two blocks, answer between and after
    answer, thoughts = split_think_tags("<think>a</think>3<think>b</think> ok")
    assert (answer, thoughts) == ("3 ok", ["a", "b"])
    assert split_think_tags("plain 5") == ("plain 5", [])


def test_reasoning_tokens_without_text_mark_the_reply_reasoned():
    reply, body = reply_of("openai_o3mini_reasoning_tokens_192.yaml")
    assert reply.reasoning_text is None
    assert reply.reasoning_tokens == body["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    assert reply.reasoned and reply.model_version == body["model"]
    assert reply.system_fingerprint == body["system_fingerprint"]


def test_gpt5_zero_reasoning_tokens_and_null_fingerprint():
    reply, body = reply_of("openai_gpt5_chat_reasoning_usage.yaml")
    assert reply.reasoning_tokens == 0 and not reply.reasoned
    assert reply.system_fingerprint is None and reply.answer_text == message_of(body)["content"]


# ---------------------------------------------------------------- plain answers, odd envelopes

@pytest.mark.parametrize("name", ["openai_gpt4.1nano_chat_text.json", "dashscope_qwen_text.json",
                                  "zhipu_glm4air_chat_200.yaml", "together_200_retry_after_on_success.yaml",
                                  "vllm_qwen3_0.6b_json_schema_no_think.json"])
def test_plain_answers(name):
    reply, body = reply_of(name)
    assert reply.answer_text == message_of(body)["content"]
    assert reply.reasoning_text is None and not reply.reasoned
    assert reply.finish_reason == "stop" and reply.refusal_reason is None
    assert reply.input_tokens == body["usage"]["prompt_tokens"]
    assert reply.model_version == body["model"]


def test_legacy_completions_text():
    reply, body = reply_of("vllm_qwen3_0.6b_guided_choice_completion.json")
    assert reply.answer_text == body["choices"][0]["text"] and reply.finish_reason == "stop"


def test_length_finish_is_reported_even_under_the_limit():
    reply, body = reply_of("deepseek_chat_length_finish_under_limit.yaml")
    assert reply.finish_reason == "length" and reply.provider_finish_reason == "length"
    assert reply.answer_text == message_of(body)["content"]  # the answer is kept; elicit/ decides


@pytest.mark.parametrize("body", [None, [], {}, {"choices": []}, {"choices": None}, {"choices": ["x"]},
                                  "not json", {"choices": [{"index": 0}]}])
def test_empty_or_broken_bodies_never_crash(body):
    reply = translate_chat_completion(body, json.dumps(body))
    if isinstance(body, dict) and body.get("choices") == [{"index": 0}]:
        assert reply.answer_text is None and reply.finish_reason == "other"
    else:
        assert reply.answer_text is None and reply.finish_reason == "error"
        assert reply.extra["problem"]


def test_refusal_field():
    body = {"model": "gpt-4o-2024-08-06", "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": None, "refusal": "I'm sorry, I can't help with that."}}]}
    reply = translate_chat_completion(body, json.dumps(body))
    assert reply.finish_reason == "refusal" and reply.refusal_reason == body["choices"][0]["message"]["refusal"]
    assert reply.answer_text is None


def test_content_filter_finish_with_azure_categories():
    body = {"model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "content_filter",
                                            "message": {"role": "assistant", "content": ""},
                                            "content_filter_results": {"violence": {"filtered": True,
                                                                                    "severity": "medium"}}}]}
    reply = translate_chat_completion(body, json.dumps(body))
    assert reply.finish_reason == "content_filter" and reply.refusal_reason == "output filtered: violence (medium)"


def test_zhipu_sensitive_finish_is_a_content_filter():
    body = {"model": "glm-4", "choices": [{"index": 0, "finish_reason": "sensitive",
                                           "message": {"role": "assistant", "content": ""}}]}
    reply = translate_chat_completion(body, json.dumps(body))
    assert reply.finish_reason == "content_filter" and reply.refusal_reason == "sensitive"


def test_azure_prompt_filter_chunk_alone_is_an_error_but_filtered_is_a_refusal():
    first = json.loads(exchange_path("azure_openai_stream_prompt_filter_first_chunk.chunks.txt")
                       .read_text().splitlines()[0])
    assert first["choices"] == []
    assert translate_chat_completion(first, "").finish_reason == "error"  # nothing filtered, nothing sent
    first["prompt_filter_results"][0]["content_filter_results"]["hate"] = {"filtered": True, "severity": "high"}
    reply = translate_chat_completion(first, "")
    assert reply.finish_reason == "content_filter" and "hate (high)" in reply.refusal_reason


def test_error_object_inside_a_200():
    body = {"error": {"code": "data_inspection_failed", "message": "Output data may contain inappropriate content."}}
    reply = translate_chat_completion(body, json.dumps(body))
    assert reply.finish_reason == "content_filter" and "inappropriate" in reply.refusal_reason
    body = {"error": {"code": 502, "message": "Upstream died"}}
    assert translate_chat_completion(body, json.dumps(body)).finish_reason == "error"
    wrapped = [{"error": {"code": 400, "message": "Please use a valid role: user, model.",
                          "status": "INVALID_ARGUMENT"}}]
    assert translate_chat_completion(wrapped, json.dumps(wrapped)).finish_reason == "error"


# ---------------------------------------------------------------- token log probabilities

def test_deepseek_one_hot_logprobs_kept_as_given():
    reply, body = reply_of("deepseek_chat_stream_chunk_top5_logprobs.json")
    entry = body["choices"][0]["logprobs"]["content"][0]
    assert len(reply.positions) == 1
    assert reply.positions[0].token == entry["token"] and reply.positions[0].logprob == 0.0
    assert reply.positions[0].top == {top["token"]: top["logprob"] for top in entry["top_logprobs"]}


def test_llamacpp_logprobs_with_token_ids():
    body = llamacpp_body("llamacpp_qwen3_0.6b_chat_logprobs_top5.json")
    reply = translate_chat_completion(body, "")
    content = body["choices"][0]["logprobs"]["content"]
    assert all("id" in entry for entry in content)
    # characters split over byte tokens are joined, so there are at most as many positions as entries
    assert 0 < len(reply.positions) <= len(content)
    assert "".join(p.token for p in reply.positions) == reply.answer_text
    first = content[0]
    assert reply.positions[0].top == {t["token"]: t["logprob"] for t in first["top_logprobs"]}


def test_split_utf8_bytes_are_joined():
    # the cookbook's blue heart: '\xf0\x9f\x92' then '\x99' (values printed in the cookbook)
    entries = [{"token": ":\n\n", "logprob": -0.11313002, "bytes": [58, 10, 10], "top_logprobs": []},
               {"token": "\\xf0\\x9f\\x92", "logprob": -0.09048584, "bytes": [240, 159, 146], "top_logprobs": []},
               {"token": "\\x99", "logprob": 0.0, "bytes": [153], "top_logprobs": []},
               {"token": " Blue", "logprob": -0.023958502, "bytes": [32, 66, 108, 117, 101], "top_logprobs": []}]
    body = {"choices": [{"index": 0, "message": {"content": ":\n\n💙 Blue"}, "finish_reason": "stop",
                         "logprobs": {"content": entries}}]}
    positions = translate_chat_completion(body, "").positions
    assert [p.token for p in positions] == [":\n\n", "💙", " Blue"]
    assert math.isclose(positions[1].logprob, -0.09048584 + 0.0)


def test_duplicate_alternatives_add_up():
    body = {"choices": [{"index": 0, "message": {"content": "3"}, "finish_reason": "stop", "logprobs": {
        "content": [{"token": "3", "logprob": math.log(0.5), "top_logprobs": [
            {"token": "3", "logprob": math.log(0.5)}, {"token": "4", "logprob": math.log(0.2)},
            {"token": "4", "logprob": math.log(0.1)}, {"token": "5", "logprob": None}]}]}}]}
    top = translate_chat_completion(body, "").positions[0].top
    assert set(top) == {"3", "4"} and math.isclose(math.exp(top["4"]), 0.3)


def test_no_logprobs_key_gives_no_positions():
    reply, _ = reply_of("openai_o3mini_max_completion_tokens_reasoning.yaml")
    assert reply.positions is None


# ---------------------------------------------------------------- streams

@pytest.mark.parametrize("name, field", [("deepseek_reasoner_stream.chunks.txt", "reasoning_content"),
                                         ("dashscope_qwen3max_reasoning_stream.chunks.txt", "reasoning_content")])
def test_stream_chunks_merge_into_one_reply(name, field):
    chunks = [json.loads(line) for line in exchange_path(name).read_text().splitlines() if line.strip()]
    reply = translate_chat_completion(chunks, "")
    expected_answer = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
    expected_reasoning = "".join((c["choices"][0]["delta"].get(field) or "") for c in chunks if c.get("choices"))
    assert reply.answer_text == expected_answer and reply.reasoning_text == expected_reasoning
    usage = next(c["usage"] for c in reversed(chunks) if c.get("usage"))
    assert reply.reasoning_tokens == usage["completion_tokens_details"]["reasoning_tokens"]
    assert reply.finish_reason == "stop" and reply.reasoned


def test_stream_logprobs_and_azure_empty_first_chunk():
    chunks = [json.loads(line) for line in exchange_path("deepseek_v4flash_logprobs_stream.chunks.txt")
              .read_text().splitlines() if line.strip()]
    merged = merge_stream_chunks(chunks)
    reply = translate_chat_completion(merged, "")
    assert [p.token for p in reply.positions] == [reply.answer_text]
    azure = [json.loads(line) for line in exchange_path("azure_openai_stream_prompt_filter_first_chunk.chunks.txt")
             .read_text().splitlines() if line.strip()]
    reply = translate_chat_completion(azure, "")
    assert reply.model_version == "gpt-5-nano-2025-08-07" and reply.finish_reason == "stop"
    assert reply.reasoning_tokens == azure[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"]


def test_content_parts_and_reasoning_sent_under_two_names():
    body = {"choices": [{"index": 0, "finish_reason": "stop", "message": {
        "reasoning_content": "weigh 2 and 5", "reasoning": "weigh 2 and 5",
        "content": [{"type": "thinking", "thinking": "and 1"}, {"type": "text", "text": "3"}]}}]}
    reply = translate_chat_completion(body, "")
    assert reply.answer_text == "3" and reply.reasoning_text == "weigh 2 and 5\nand 1"
