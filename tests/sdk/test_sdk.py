"""The official Python SDKs (anthropic, openai) against the live gateway with the test channel.

Run by tests/sdk/run.sh, which sets ORCHIDS_BASE_URL and ORCHIDS_API_KEY. Every assertion is on
what the SDK parsed, so a shape the SDK cannot read fails here.
"""

import json
import os

import anthropic
import openai
import pytest

BASE = os.environ["ORCHIDS_BASE_URL"]
KEY = os.environ["ORCHIDS_API_KEY"]
CLAUDE_MODELS = ["claude-sonnet-4-5", "grok-3"]  # canonical-event channel and OpenAI-frame channel
OPENAI_MODELS = ["grok-3", "claude-sonnet-4-5"]


@pytest.fixture(scope="module")
def ac():
    return anthropic.Anthropic(base_url=BASE, api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def ac_bearer():
    return anthropic.Anthropic(base_url=BASE, auth_token=KEY, api_key=None, max_retries=0)


@pytest.fixture(scope="module")
def oc():
    return openai.OpenAI(base_url=BASE + "/v1", api_key=KEY, max_retries=0)


def user(text):
    return [{"role": "user", "content": text}]


# ----------------------------------------------------------------------------- Anthropic


@pytest.mark.parametrize("model", CLAUDE_MODELS)
def test_anthropic_create(ac, model):
    m = ac.messages.create(model=model, max_tokens=64, messages=user("hello"))
    assert m.type == "message" and m.role == "assistant"
    assert m.model == model
    assert m.content[0].type == "text"
    assert m.content[0].text == "Hello from the test channel!"
    assert m.stop_reason == "end_turn"
    assert m.usage.output_tokens > 0 and m.usage.input_tokens > 0


def test_anthropic_bearer_auth_and_beta_path(ac_bearer):
    m = ac_bearer.beta.messages.create(model="claude-sonnet-4-5", max_tokens=32, messages=user("hello"))
    assert m.content[0].text == "Hello from the test channel!"


@pytest.mark.parametrize("model", CLAUDE_MODELS)
def test_anthropic_stream_accumulates_thinking_and_text(ac, model):
    with ac.messages.stream(
        model=model,
        max_tokens=256,
        thinking={"type": "enabled", "budget_tokens": 128},
        messages=user("think about it"),
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "The answer is 42."
    kinds = [b.type for b in final.content]
    assert kinds == ["thinking", "text"]
    assert final.content[0].thinking == "Let me think about this carefully."
    if model.startswith("claude"):
        assert final.content[0].signature == "RXF1aXZhbGVudFNpZ25hdHVyZQ=="
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", CLAUDE_MODELS)
def test_anthropic_stream_escaping(ac, model):
    with ac.messages.stream(model=model, max_tokens=64, messages=user("unicode please")) as s:
        final = s.get_final_message()
    assert final.content[0].text == (
        'Quotes "like this", a back\\slash,\nnew line, tab\temoji 😀, CJK 漢字, control \x01.'
    )


@pytest.mark.parametrize("model", CLAUDE_MODELS)
def test_anthropic_tool_round_trip(ac, model):
    tools = [{"name": "get_weather", "description": "weather", "input_schema": {"type": "object"}}]
    with ac.messages.stream(model=model, max_tokens=128, tools=tools, messages=user("use a tool")) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    call = final.content[0]
    assert call.type == "tool_use" and call.name == "get_weather"
    assert call.input == {"location": "Paris, France", "unit": "celsius"}
    second = ac.messages.create(
        model=model,
        max_tokens=128,
        tools=tools,
        messages=[
            {"role": "user", "content": "use a tool"},
            {"role": "assistant", "content": [c.model_dump() for c in final.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny 21C"}]},
        ],
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "The tool said: sunny 21c"


def test_anthropic_multi_block_and_max_tokens(ac):
    with ac.messages.stream(model="claude-sonnet-4-5", max_tokens=128, messages=user("multi")) as s:
        final = s.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    m = ac.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=user("max_tokens"))
    assert m.stop_reason == "max_tokens"


def test_anthropic_count_tokens(ac):
    r = ac.messages.count_tokens(model="claude-sonnet-4-5", messages=user("hello world"), system="be terse")
    assert 5 < r.input_tokens < 40


def test_anthropic_models(ac):
    ids = [m.id for m in ac.models.list(limit=3)]  # auto-paginates past the first page
    assert "claude-sonnet-4-5" in ids and "grok-3" in ids
    assert len(ids) == len(set(ids))
    one = ac.models.retrieve("grok-3")
    assert one.id == "grok-3" and one.type == "model"


def test_anthropic_errors(ac):
    bad = anthropic.Anthropic(base_url=BASE, api_key="sk-wrong-key-000", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as e:
        bad.messages.create(model="grok-3", max_tokens=8, messages=user("hi"))
    assert e.value.status_code == 401
    with pytest.raises(anthropic.NotFoundError) as e:
        ac.messages.create(model="gork-3", max_tokens=8, messages=user("hi"))
    assert "did you mean grok-3" in str(e.value)
    with pytest.raises(anthropic.RateLimitError):
        ac.messages.create(model="grok-3", max_tokens=8, messages=user("fail rate_limit"))
    with pytest.raises(anthropic.BadRequestError):
        ac.messages.create(model="grok-3", max_tokens=8, messages=user("fail client"))
    with pytest.raises(anthropic.APIStatusError) as e:
        ac.messages.create(model="grok-3", max_tokens=8, messages=user("fail server"))
    assert e.value.status_code == 529


@pytest.mark.parametrize("model", CLAUDE_MODELS)
def test_anthropic_midstream_error_raises(ac, model):
    with pytest.raises(anthropic.APIError) as e:
        with ac.messages.stream(model=model, max_tokens=64, messages=user("midstream error")) as s:
            for _ in s:
                pass
    assert "overloaded" in str(e.value)


# ----------------------------------------------------------------------------- OpenAI


@pytest.mark.parametrize("model", OPENAI_MODELS)
def test_openai_create(oc, model):
    r = oc.chat.completions.create(model=model, messages=user("hello"))
    assert r.object == "chat.completion"
    assert r.model == model
    assert r.choices[0].message.content == "Hello from the test channel!"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


@pytest.mark.parametrize("model", OPENAI_MODELS)
def test_openai_stream_include_usage(oc, model):
    chunks = list(
        oc.chat.completions.create(
            model=model, messages=user("hello"), stream=True, stream_options={"include_usage": True}
        )
    )
    assert len({c.id for c in chunks}) == 1
    assert all(c.model == model for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the test channel!"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]


@pytest.mark.parametrize("model", OPENAI_MODELS)
def test_openai_tool_round_trip(oc, model):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    with oc.chat.completions.stream(model=model, messages=user("use a tool"), tools=tools) as s:
        final = s.get_final_completion()
    msg = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    call = msg.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Paris, France", "unit": "celsius"}
    second = oc.chat.completions.create(
        model=model,
        tools=tools,
        messages=[
            {"role": "user", "content": "use a tool"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny 21C"},
        ],
    )
    assert second.choices[0].message.content == "The tool said: sunny 21c"


@pytest.mark.parametrize("model", OPENAI_MODELS)
def test_openai_reasoning_content(oc, model):
    chunks = list(oc.chat.completions.create(model=model, messages=user("think"), stream=True))
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert reasoning == "Let me think about this carefully."


def test_openai_models(oc):
    ids = [m.id for m in oc.models.list()]
    assert "grok-3" in ids and "claude-sonnet-4-5" in ids
    assert oc.models.retrieve("grok-3").owned_by == "grok"


def test_openai_errors(oc):
    bad = openai.OpenAI(base_url=BASE + "/v1", api_key="sk-wrong-key-000", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="grok-3", messages=user("hi"))
    with pytest.raises(openai.NotFoundError) as e:
        oc.chat.completions.create(model="gork-3", messages=user("hi"))
    assert "did you mean grok-3" in str(e.value)
    with pytest.raises(openai.BadRequestError):
        oc.chat.completions.create(model="grok-3", messages=user("hi"), n=2)
    with pytest.raises(openai.RateLimitError):
        oc.chat.completions.create(model="grok-3", messages=user("fail quota"))
    with pytest.raises(openai.InternalServerError):
        oc.chat.completions.create(model="grok-3", messages=user("fail server"))


@pytest.mark.parametrize("model", OPENAI_MODELS)
def test_openai_midstream_error_raises(oc, model):
    with pytest.raises(openai.APIError) as e:
        for _ in oc.chat.completions.create(model=model, messages=user("midstream error"), stream=True):
            pass
    assert "overloaded" in str(e.value)
