// The grok lane: the official Node SDKs against a gateway whose grok channel is backed by the
// simulator. Run by tests/sdk/run.sh (ORCHIDS_GROK_BASE_URL, ORCHIDS_API_KEY,
// ORCHIDS_NODE_MODULES). `grok-4-fast`: the API-key account; `grok-4.20-fast`: the web account.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(process.env.ORCHIDS_NODE_MODULES + '/');
const Anthropic = require('@anthropic-ai/sdk').default ?? require('@anthropic-ai/sdk');
const OpenAI = require('openai').default ?? require('openai');

const BASE = process.env.ORCHIDS_GROK_BASE_URL;
const KEY = process.env.ORCHIDS_API_KEY;
const ac = new Anthropic({ baseURL: BASE + '/grok', apiKey: KEY, maxRetries: 0 });
const oc = new OpenAI({ baseURL: BASE + '/grok/v1', apiKey: KEY, maxRetries: 0 });
const ANSWER = 'Hello! This is the grok simulator answering you.';
const SCHEMA = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };

for (const model of ['grok-4-fast', 'grok-4.20-fast']) {
  test(`anthropic stream (${model})`, async () => {
    const s = ac.messages.stream({ model, max_tokens: 128, messages: [{ role: 'user', content: 'hello' }] });
    let text = '';
    s.on('text', (t) => { text += t; });
    const final = await s.finalMessage();
    assert.equal(text, ANSWER);
    assert.equal(final.stop_reason, 'end_turn');
  });

  test(`openai stream (${model})`, async () => {
    const stream = await oc.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'hello' }] });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    assert.equal(text, ANSWER);
  });

  test(`openai tool round trip (${model})`, async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather now.', parameters: SCHEMA } }];
    const final = await oc.chat.completions.stream({ model, tools,
      messages: [{ role: 'user', content: 'weather in Paris? sim:tool' }] }).finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    const call = final.choices[0].message.tool_calls[0];
    assert.equal(call.function.name, 'get_weather');
    assert.equal(typeof JSON.parse(call.function.arguments).city, 'string');
    const second = await oc.chat.completions.create({ model, tools, messages: [
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: call.id, content: 'sunny 21C' },
    ] });
    assert.equal(second.choices[0].message.content, 'The tool returned: sunny 21C');
  });

  test(`anthropic tool round trip (${model})`, async () => {
    const tools = [{ name: 'get_weather', description: 'Weather now.', input_schema: SCHEMA }];
    const final = await ac.messages.stream({ model, max_tokens: 256, tools,
      messages: [{ role: 'user', content: 'weather in Paris? sim:tool' }] }).finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    const call = final.content.find((b) => b.type === 'tool_use');
    assert.equal(call.name, 'get_weather');
    const second = await ac.messages.create({ model, max_tokens: 256, tools, messages: [
      { role: 'user', content: 'weather in Paris?' },
      { role: 'assistant', content: final.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'sunny 21C' }] },
    ] });
    assert.equal(second.content[0].text, 'The tool returned: sunny 21C');
  });
}

test('rate limit is an SDK RateLimitError', async () => {
  await assert.rejects(
    oc.chat.completions.create({ model: 'grok-4-fast', messages: [{ role: 'user', content: 'hi sim:429' }] }),
    (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, String(e));
      const h = e.headers;
      assert.equal(typeof h?.get === 'function' ? h.get('retry-after') : h?.['retry-after'], '7');
      return true;
    },
  );
});
