// Keys per provider: one SecretStorage entry each, each handed only to the server, in its
// own variable; installers and probes get none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  doctorSummary,
  KEY_PROVIDERS,
  keyProblem,
  providerById,
  providerPickItems,
  secretName,
  serverEnv,
  withoutSecrets,
} from '../apiKeyLogic';

test('each provider has its own secret name; Anthropic keeps the old one', () => {
  const names = KEY_PROVIDERS.map((p) => secretName(p.id));
  assert.equal(new Set(names).size, names.length);
  assert.equal(secretName('anthropic'), 'planloop.anthropicApiKey');
  assert.equal(secretName('openai'), 'planloop.apiKey.openai');
  assert.equal(providerById('openrouter')?.envVar, 'OPENROUTER_API_KEY');
  assert.equal(providerById('nope'), undefined);
});

test('the quick pick says which keys are stored, never the key', () => {
  const items = providerPickItems(new Set(['openai']));
  const openai = items.find((i) => i.id === 'openai')!;
  assert.equal(openai.description, 'OPENAI_API_KEY · stored');
  assert.equal(items.find((i) => i.id === 'anthropic')!.description, 'ANTHROPIC_API_KEY');
  assert.deepEqual(
    items.map((i) => i.id),
    KEY_PROVIDERS.map((p) => p.id),
  );
});

test('each stored key lands in its own variable of the server env only', () => {
  const base = { PATH: '/bin', OPENAI_API_KEY: 'from-shell', HOME: '/h' };
  const env = serverEnv(base, { openai: ' sk-proj-1 ', anthropic: 'sk-ant-2', azure: '' });
  assert.equal(env.OPENAI_API_KEY, 'sk-proj-1');
  assert.equal(env.ANTHROPIC_API_KEY, 'sk-ant-2');
  assert.equal(env.AZURE_OPENAI_API_KEY, undefined);
  assert.equal(env.PATH, '/bin');
  // no stored key: the shell's own stays
  assert.equal(serverEnv(base, {}).OPENAI_API_KEY, 'from-shell');
  assert.equal(base.OPENAI_API_KEY, 'from-shell'); // the input is not changed
});

test('other children get no credential variable at all', () => {
  const env = withoutSecrets({
    PATH: '/bin',
    ANTHROPIC_API_KEY: 'a',
    ANTHROPIC_AUTH_TOKEN: 't',
    OPENAI_API_KEY: 'o',
    OPENROUTER_API_KEY: 'r',
    AZURE_OPENAI_API_KEY: 'z',
    VLLM_API_KEY: 'v',
  });
  assert.deepEqual(env, { PATH: '/bin' });
});

test('a pasted key with spaces or odd characters is refused; empty removes', () => {
  assert.equal(keyProblem(''), undefined);
  assert.equal(keyProblem('  sk-proj-abc  '), undefined);
  assert.match(keyProblem('sk-proj abc') ?? '', /spaces/);
  assert.match(keyProblem('sk-proj-ä') ?? '', /HTTP header/);
});

test('Check Models names the first failing role and lists every line', () => {
  const ok = { role: 'planner', label: 'anthropic:claude-opus-5-5', endpoint: 'https://api.anthropic.com', keyEnv: 'ANTHROPIC_API_KEY', keyPresent: true, ok: true, seconds: 1.234, detail: 'answered and called a tool (40 tokens)' };
  const bad = { role: 'executor', label: 'ollama:qwen3', endpoint: 'http://localhost:11434/v1', keyEnv: null, keyPresent: null, ok: false, seconds: 0.01, detail: 'nothing answers; start it with `ollama serve`' };
  const s = doctorSummary({ ok: false, checks: [ok, bad] });
  assert.equal(s.severity, 'error');
  assert.match(s.text, /the executor model ollama:qwen3 failed the check: nothing answers/);
  assert.equal(s.lines[0], '✓ planner anthropic:claude-opus-5-5 · https://api.anthropic.com · ANTHROPIC_API_KEY set · 1.23s — answered and called a tool (40 tokens)');
  assert.match(s.lines[1], /^✗ executor ollama:qwen3 · http:\/\/localhost:11434\/v1 · 0\.01s/);
  const good = doctorSummary({ ok: true, checks: [ok, { ...ok, role: 'executor' }] });
  assert.equal(good.severity, 'info');
  assert.match(good.text, /both models answer and call tools/);
});

test('the doctor summary names a sandbox that cannot run, and its fix', () => {
  const ok = {
    role: 'planner', label: 'scripted:x', endpoint: 'none', keyEnv: null, keyPresent: null,
    ok: true, seconds: null, detail: 'scripted: no endpoint to check',
  };
  const checks = [ok, { ...ok, role: 'executor' }];
  const broken = {
    available: false, ok: false, summary: 'unavailable: bubblewrap (bwrap) is not on PATH',
    reason: 'bubblewrap (bwrap) is not on PATH', fix: 'install bubblewrap (apt install bubblewrap)',
  };
  const s = doctorSummary({ ok: false, checks, sandbox: broken });
  assert.equal(s.severity, 'error');
  assert.match(s.text, /cannot be sandboxed here: bubblewrap \(bwrap\) is not on PATH\. To fix: install bubblewrap/);
  assert.equal(s.lines[2], '✗ sandbox unavailable: bubblewrap (bwrap) is not on PATH — bubblewrap (bwrap) is not on PATH; to fix: install bubblewrap (apt install bubblewrap)');
  const on = { available: true, ok: true, summary: 'bwrap · network off (loopback only)', reason: '', fix: '' };
  const good = doctorSummary({ ok: true, checks, sandbox: on });
  assert.equal(good.severity, 'info');
  assert.equal(good.lines[2], '✓ sandbox bwrap · network off (loopback only)');
  const off = { ...on, available: false, summary: 'off (commands run with your full rights)' };
  assert.equal(doctorSummary({ ok: true, checks, sandbox: off }).lines[2], '! sandbox off (commands run with your full rights)');
});

test('the doctor summary lists each MCP server; one that did not start is a warning naming it', () => {
  const ok = {
    role: 'planner', label: 'scripted:x', endpoint: 'none', keyEnv: null, keyPresent: null,
    ok: true, seconds: null, detail: 'scripted: no endpoint to check',
  };
  const checks = [ok, { ...ok, role: 'executor' }];
  const db = { name: 'db', transport: 'stdio', source: '.mcp.json', started: true, tools: 8, seconds: 1.1, detail: '8 tools in 1.10s' };
  const docs = { name: 'docs', transport: 'http', source: 'settings', started: true, tools: 1, seconds: 0.2, detail: '1 tools in 0.20s' };
  const good = doctorSummary({ ok: true, checks, mcp: [db, docs] });
  assert.equal(good.severity, 'info');
  assert.match(good.text, /MCP: 2 servers started, 9 tools\.$/);
  assert.deepEqual(good.lines.slice(2), ['✓ mcp db · stdio · .mcp.json — 8 tools in 1.10s', '✓ mcp docs · http · settings — 1 tools in 0.20s']);
  const gone = { ...docs, started: false, tools: 0, seconds: null, detail: 'HTTP 401 Unauthorized' };
  const s = doctorSummary({ ok: false, checks, mcp: [db, gone] });
  assert.equal(s.severity, 'warning');
  assert.match(s.text, /but an MCP server did not start: docs: HTTP 401 Unauthorized$/);
  assert.equal(s.lines[3], '✗ mcp docs · http · settings — HTTP 401 Unauthorized');
  // a failing model still comes first; no server, no MCP words
  assert.equal(doctorSummary({ ok: false, checks: [ok, { ...ok, ok: false }], mcp: [gone] }).severity, 'error');
  assert.doesNotMatch(doctorSummary({ ok: true, checks, mcp: [] }).text, /MCP/);
});
