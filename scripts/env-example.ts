// Writes .env.example from EnvSchema (src/config.ts), the one declaration of the configuration:
// every variable in declaration order, what it must be, and its default. `--check` (CI) fails
// when the committed file differs from what this would write.
import path from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { EnvSchema, describeRule } from '../src/config.js';
import { writeOrCheck } from './lib/generated-file.js';

const root = path.resolve(import.meta.dirname, '..');
const target = path.join(root, '.env.example');

const HEADER = [
  '# offbase configuration: every environment variable it reads, with its default.',
  '# Generated from EnvSchema in src/config.ts by `npm run env:example`; do not edit by hand',
  '# (CI runs `npm run env:check`). offbase reads the process environment: copy this file to',
  '# .env only for a tool that reads one, and uncomment what you change.',
];

/** The rule, unless it says no more than "set" (any value, or any non-empty one). */
function rule(schema: TSchema): string | null {
  const words = describeRule(schema);
  return words === 'valid' || (words === 'at least 1 characters' && schema.minLength === 1) ? null : `Must be ${words}.`;
}

function defaultOf(schema: TSchema): { note: string | null; value: string } {
  const required = schema.requiredInProduction as true | string | undefined;
  if (required) return { note: `Required in production${typeof required === 'string' ? ` (${required})` : ''}.`, value: '' };
  if (schema.default !== undefined) return { note: null, value: String(schema.default) };
  return { note: 'Unset by default.', value: '' };
}

function renderEnvExample(): string {
  const lines = [...HEADER];
  for (const [name, schema] of Object.entries(EnvSchema.properties) as [string, TSchema][]) {
    const { note, value } = defaultOf(schema);
    const details = [rule(schema), note].filter(Boolean).join(' ');
    lines.push('', `# ${schema.description as string}`);
    if (details) lines.push(`# ${details}`);
    lines.push(`# ${name}=${value}`);
  }
  return `${lines.join('\n')}\n`;
}

writeOrCheck(
  { target, expected: renderEnvExample(), label: 'env check', command: 'npm run env:example', staleBecause: 'does not match EnvSchema in src/config.ts' },
  `.env.example lists all ${Object.keys(EnvSchema.properties).length} variables`,
);
