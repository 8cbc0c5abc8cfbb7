// The official Node SDKs (@anthropic-ai/sdk, openai) against the live gateway with the test
// channel, on node's built-in test runner. Run by tests/sdk/run.sh (ORCHIDS_BASE_URL,
// ORCHIDS_API_KEY, NODE_PATH pointing at the installed packages).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(process.env.ORCHIDS_NODE_MODULES + '/');
const Anthropic = require('@anthropic-ai/sdk').default ?? require('@anthropic-ai/sdk');
const OpenAI = require('openai').default ?? require('openai');

const BASE = process.env.ORCHIDS_BASE_URL;
const KEY = process.env.ORCHIDS_API_KEY;
const ac = new Anthropic({ baseURL: BASE, apiKey: KEY, maxRetries: 0 });
const oc = new OpenAI({ baseURL: BASE + '/v1', apiKey: KEY, maxRetries: 0 });
const user = (text) => [{ role: 'user', content: text }];

for (const model of ['claude-sonnet-4-5', 'grok-3']) {
  test(`anthropic create (${model})`, async () => {
    const m = await ac.messages.create({ model, max_tokens: 64, messages: user('hello') });
    assert.equal(m.model, model);
    assert.equal(m.content[0].text, 'Hello from the test channel!');
    assert.equal(m.stop_reason, 'end_turn');
  });

  test(`anthropic stream finalMessage with thinking (${model})`, async () => {
    const s = ac.messages.stream({ model, max_tokens: 128, messages: user('think'),
      thinking: { type: 'enabled', budget_tokens: 64 } });
    let text = '';
    s.on('text', (t) => { text += t; });
    const final = await s.finalMessage();
    assert.equal(text, 'The answer is 42.');
    assert.deepEqual(final.content.map((b) => b.type), ['thinking', 'text']);
    assert.equal(final.content[0].thinking, 'Let me think about this carefully.');
  });

  test(`anthropic tool_use input accumulates (${model})`, async () => {
    const final = await ac.messages.stream({ model, max_tokens: 128, messages: user('tool please'),
      tools: [{ name: 'get_weather', input_schema: { type: 'object' } }] }).finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    assert.deepEqual(final.content[0].input, { location: 'Paris, France', unit: 'celsius' });
  });

  test(`anthropic midstream error throws (${model})`, async () => {
    await assert.rejects(async () => {
      const s = await ac.messages.create({ model, max_tokens: 64, messages: user('midstream error'), stream: true });
      for await (const _ of s) { /* drain */ }
    }, (e) => e instanceof Anthropic.APIError && /overloaded/.test(String(e.message)));
  });

  test(`openai stream with usage (${model})`, async () => {
    const stream = await oc.chat.completions.create({ model, messages: user('hello'), stream: true,
      stream_options: { include_usage: true } });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
    assert.equal(chunks.filter((c) => c.choices.length).map((c) => c.choices[0].delta.content ?? '').join(''),
      'Hello from the test channel!');
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage.total_tokens > 0);
  });

  test(`openai runTools-style tool accumulation (${model})`, async () => {
    const runner = oc.chat.completions.stream({ model, messages: user('tool please'),
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0].message.tool_calls[0];
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { location: 'Paris, France', unit: 'celsius' });
  });

  test(`openai midstream error throws (${model})`, async () => {
    await assert.rejects(async () => {
      const s = await oc.chat.completions.create({ model, messages: user('midstream error'), stream: true });
      for await (const _ of s) { /* drain */ }
    }, (e) => e instanceof OpenAI.APIError && /overloaded/.test(String(e.message)));
  });
}

test('openai non-streaming', async () => {
  const r = await oc.chat.completions.create({ model: 'grok-3', messages: user('hello') });
  assert.equal(r.choices[0].message.content, 'Hello from the test channel!');
  assert.equal(r.model, 'grok-3');
});

test('anthropic countTokens', async () => {
  const r = await ac.messages.countTokens({ model: 'claude-sonnet-4-5', messages: user('hello world') });
  assert.ok(r.input_tokens > 3 && r.input_tokens < 40, String(r.input_tokens));
});

test('anthropic models.list auto-paginates', async () => {
  const ids = [];
  for await (const m of ac.models.list({ limit: 2 })) ids.push(m.id);
  assert.ok(ids.includes('grok-3') && ids.includes('claude-sonnet-4-5'));
  assert.equal(ids.length, new Set(ids).size);
});

test('anthropic beta.messages (?beta=true)', async () => {
  const m = await ac.beta.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 16, messages: user('hi') });
  assert.equal(m.content[0].text, 'Hello from the test channel!');
});

test('openai models.list', async () => {
  const ids = [];
  for await (const m of oc.models.list()) ids.push(m.id);
  assert.ok(ids.includes('grok-3'));
});

test('errors map to SDK classes', async () => {
  const bad = new Anthropic({ baseURL: BASE, apiKey: 'sk-wrong-key-000', maxRetries: 0 });
  await assert.rejects(bad.messages.create({ model: 'grok-3', max_tokens: 8, messages: user('hi') }),
    Anthropic.AuthenticationError);
  await assert.rejects(ac.messages.create({ model: 'gork-3', max_tokens: 8, messages: user('hi') }),
    (e) => e instanceof Anthropic.NotFoundError && /did you mean grok-3/.test(e.message));
  await assert.rejects(ac.messages.create({ model: 'grok-3', max_tokens: 8, messages: user('fail rate_limit') }),
    Anthropic.RateLimitError);
  await assert.rejects(oc.chat.completions.create({ model: 'grok-3', messages: user('hi'), n: 2 }),
    OpenAI.BadRequestError);
  await assert.rejects(oc.chat.completions.create({ model: 'grok-3', messages: user('fail server') }),
    OpenAI.InternalServerError);
});
