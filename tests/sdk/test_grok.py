"""The grok lane: the official Python SDKs against a gateway whose grok channel is backed by the
simulator (`orchids-server simulate grok`, its try-it line merged into the config).

Run by tests/sdk/run.sh with ORCHIDS_GROK_BASE_URL and ORCHIDS_API_KEY. Models: `grok-4-fast`
is served by the API-key account (xAI API surface), `grok-4.20-fast` by the web account
(grok.com surface).
"""

import json
import os

import anthropic
import openai
import pytest

BASE = os.environ["ORCHIDS_GROK_BASE_URL"]
KEY = os.environ["ORCHIDS_API_KEY"]
MODELS = ["grok-4-fast", "grok-4.20-fast"]
ANSWER = "Hello! This is the grok simulator answering you."
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture(scope="module")
def ac():
    return anthropic.Anthropic(base_url=BASE + "/grok", api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def oc():
    return openai.OpenAI(base_url=BASE + "/grok/v1", api_key=KEY, max_retries=0)


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_stream(ac, model):
    with ac.messages.stream(model=model, max_tokens=128, messages=[{"role": "user", "content": "hello"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == ANSWER
    assert final.stop_reason == "end_turn"
    assert final.model == model


@pytest.mark.parametrize("model", MODELS)
def test_openai_stream(oc, model):
    chunks = list(oc.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", MODELS)
def test_anthropic_tool_round_trip(ac, model):
    tools = [{"name": "get_weather", "description": "Weather now.", "input_schema": SCHEMA}]
    ask = {"role": "user", "content": "weather in Paris? sim:tool"}
    with ac.messages.stream(model=model, max_tokens=256, tools=tools, messages=[ask]) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    call = next(b for b in final.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input["city"], str)
    second = ac.messages.create(
        model=model,
        max_tokens=256,
        tools=tools,
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": [c.model_dump() for c in final.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny 21C"}]},
        ],
    )
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "The tool returned: sunny 21C"


@pytest.mark.parametrize("model", MODELS)
def test_openai_tool_round_trip(oc, model):
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather now.", "parameters": SCHEMA}}]
    with oc.chat.completions.stream(
        model=model, tools=tools, messages=[{"role": "user", "content": "weather in Paris? sim:tool"}]
    ) as s:
        final = s.get_final_completion()
    assert final.choices[0].finish_reason == "tool_calls"
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    second = oc.chat.completions.create(
        model=model,
        tools=tools,
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny 21C"},
        ],
    )
    assert second.choices[0].message.content == "The tool returned: sunny 21C"


def test_rate_limit_is_an_sdk_error_with_retry_after(oc):
    with pytest.raises(openai.RateLimitError) as e:
        oc.chat.completions.create(model="grok-4-fast", messages=[{"role": "user", "content": "hi sim:429"}])
    assert e.value.response.headers.get("retry-after") == "7"
