/**
 * API keys per provider, pure so it is unit tested: which providers take a key, the
 * SecretStorage name of each, and the environment each process gets. A key is handed
 * only to the planloop server, in its own provider's variable; every other child
 * process (installers, interpreter probes) gets none of them.
 */

export interface KeyProvider {
  id: string;
  label: string;
  /** The variable planloop reads the key from (docs/models.md). */
  envVar: string;
  /** The model specs that use it. */
  specs: string;
}

export const KEY_PROVIDERS: readonly KeyProvider[] = [
  { id: 'anthropic', label: 'Anthropic', envVar: 'ANTHROPIC_API_KEY', specs: 'anthropic:' },
  { id: 'openai', label: 'OpenAI', envVar: 'OPENAI_API_KEY', specs: 'openai:' },
  { id: 'openrouter', label: 'OpenRouter', envVar: 'OPENROUTER_API_KEY', specs: 'openrouter:' },
  { id: 'azure', label: 'Azure OpenAI', envVar: 'AZURE_OPENAI_API_KEY', specs: 'azure:' },
  { id: 'vllm', label: 'vLLM (started with --api-key)', envVar: 'VLLM_API_KEY', specs: 'vllm:' },
];

/** Variables that may carry a credential: never passed to anything but the server. */
export const SECRET_VARS: readonly string[] = [...KEY_PROVIDERS.map((p) => p.envVar), 'ANTHROPIC_AUTH_TOKEN'];

/** The SecretStorage key of a provider; Anthropic's keeps its name from before providers. */
export function secretName(providerId: string): string {
  return providerId === 'anthropic' ? 'planloop.anthropicApiKey' : `planloop.apiKey.${providerId}`;
}

export function providerById(id: string): KeyProvider | undefined {
  return KEY_PROVIDERS.find((p) => p.id === id);
}

/** Quick pick rows: each provider, its variable, and whether a key is stored (never the key). */
export function providerPickItems(
  stored: ReadonlySet<string>,
): { label: string; description: string; detail: string; id: string }[] {
  return KEY_PROVIDERS.map((p) => ({
    id: p.id,
    label: p.label,
    description: stored.has(p.id) ? `${p.envVar} · stored` : p.envVar,
    detail: `for ${p.specs} models`,
  }));
}

/** Why a pasted key cannot be used (undefined: it can). Empty means "remove the key". */
export function keyProblem(text: string): string | undefined {
  const key = text.trim();
  if (!key) return undefined;
  if (/\s/.test(key)) return 'The key contains spaces or line breaks; copy it again exactly.';
  if (!/^[\x21-\x7e]+$/.test(key)) return 'The key contains characters that cannot be sent in an HTTP header.';
  return undefined;
}

/**
 * The server's environment: the editor's, with each stored key in its own provider's
 * variable (a stored key wins over one inherited from the shell).
 */
export function serverEnv(
  base: Readonly<Record<string, string | undefined>>,
  keys: Readonly<Record<string, string | undefined>>,
): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...base };
  for (const p of KEY_PROVIDERS) {
    const k = keys[p.id]?.trim();
    if (k) env[p.envVar] = k;
  }
  return env;
}

/** Any other child's environment: no credential variable at all. */
export function withoutSecrets(base: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...base };
  for (const v of SECRET_VARS) delete env[v];
  return env;
}

/** What *planloop: Check Models* shows: one line a role, the sandbox and each MCP server, and whether all passed. */
export function doctorSummary(payload: {
  ok: boolean;
  checks: {
    role: string;
    label: string;
    endpoint: string;
    keyEnv: string | null;
    keyPresent: boolean | null;
    ok: boolean;
    seconds: number | null;
    detail: string;
  }[];
  sandbox?: { available: boolean; ok: boolean; summary: string; reason: string; fix: string };
  /** Each MCP server, started as a run would start it (absent from an older server). */
  mcp?: { name: string; transport: string; source: string; started: boolean; tools: number; detail: string }[];
}): { severity: 'info' | 'warning' | 'error'; text: string; lines: string[] } {
  const lines = payload.checks.map((c) => {
    const key = c.keyEnv === null ? '' : ` · ${c.keyEnv} ${c.keyPresent ? 'set' : 'not set'}`;
    const took = c.seconds === null ? '' : ` · ${c.seconds.toFixed(2)}s`;
    return `${c.ok ? '✓' : '✗'} ${c.role} ${c.label} · ${c.endpoint}${key}${took} — ${c.detail}`;
  });
  const sandbox = payload.sandbox;
  if (sandbox) {
    const mark = sandbox.available ? '✓' : sandbox.ok ? '!' : '✗';
    const why = sandbox.ok ? '' : ` — ${sandbox.reason}${sandbox.fix ? `; to fix: ${sandbox.fix}` : ''}`;
    lines.push(`${mark} sandbox ${sandbox.summary}${why}`);
  }
  const servers = payload.mcp ?? [];
  for (const m of servers) {
    lines.push(`${m.started ? '✓' : '✗'} mcp ${m.name} · ${m.transport} · ${m.source} — ${m.detail}`);
  }
  const failed = payload.checks.filter((c) => !c.ok);
  if (sandbox && !sandbox.ok && !failed.length) {
    return {
      severity: 'error',
      text: `planloop: model commands cannot be sandboxed here: ${sandbox.reason}${sandbox.fix ? `. To fix: ${sandbox.fix}` : ''}`,
      lines,
    };
  }
  if (!failed.length) {
    const models = `both models answer and call tools (${payload.checks.map((c) => c.label).join(', ')})`;
    // a server that does not start never stops a run (it goes on without its tools):
    // a warning naming the first, not an error
    const down = servers.filter((m) => !m.started);
    if (down.length) {
      const which = down.length === 1 ? 'an MCP server' : `${down.length} of ${servers.length} MCP servers`;
      return {
        severity: 'warning',
        text: `planloop: ${models}, but ${which} did not start: ${down[0].name}: ${down[0].detail}`,
        lines,
      };
    }
    const tools = servers.reduce((n, m) => n + m.tools, 0);
    const mcp = servers.length
      ? ` MCP: ${servers.length} server${servers.length === 1 ? '' : 's'} started, ${tools} tool${tools === 1 ? '' : 's'}.`
      : '';
    return { severity: 'info', text: `planloop: ${models}.${mcp}`, lines };
  }
  const first = failed[0];
  return {
    severity: 'error',
    text: `planloop: the ${first.role} model ${first.label} failed the check: ${first.detail}`,
    lines,
  };
}
