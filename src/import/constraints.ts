import type { Sql } from 'postgres';
import { quoteLiteral, type ColumnPlan } from './mapping.js';
import { ident, tableColumns, type ColumnInfo } from './source.js';

// Every offbase constraint a source row can break, checked set-based in one statement per
// batch against the rows as the writer would insert them: NOT NULL, CHECK, type compatibility
// where source and offbase types differ, length, JSON validity. The dry run counts what
// --apply would refuse; --apply sets those rows aside (reported) and writes the rest at full
// speed, so a refused row never sends the batch down a row-by-row path.

export interface Problem {
  column: string;
  problem: string;
  /** PostgreSQL's wording for the same refusal. */
  message: string;
}

export interface RowRefusal {
  /** index in the batch */
  index: number;
  id: string;
  problems: Problem[];
}

export interface TargetRules {
  table: string;
  columns: string[];
  /** SELECT over $1 (a JSON array of rows) returning (i, id, bad text[]) for rows that break a rule. */
  query: string;
  problems: Map<string, Problem>;
  /** columns whose source text becomes json/jsonb: JSON validity is checked here in JS. */
  parseJson: string[];
}

const INTEGER_RANGE: Record<string, [string, string]> = {
  smallint: ['-32768', '32767'],
  integer: ['-2147483648', '2147483647'],
  bigint: ['-9223372036854775808', '9223372036854775807'],
};
const TEXTUAL = /^(text|character varying(\(\d+\))?|character(\(\d+\))?|name|citext)$/;

/** SQL true when text v is not a valid value of type (null when it cannot be told on this server). */
function invalidAs(v: string, type: string, pg16: boolean): string | null {
  if (pg16) return `not pg_input_is_valid(${v}, ${quoteLiteral(type)})`;
  if (type === 'uuid') return `${v} !~* '^\\{?[0-9a-f]{4}(-?[0-9a-f]{4}){7}\\}?$'`;
  const range = INTEGER_RANGE[type];
  if (range) return `(case when ${v} ~ '^\\s*[+-]?[0-9]{1,19}\\s*$' then ${v}::numeric not between ${range[0]} and ${range[1]} else true end)`;
  if (/^numeric/.test(type)) return `${v} !~* '^\\s*[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)(e[+-]?[0-9]+)?\\s*$'`;
  if (type === 'boolean') return `lower(btrim(${v})) not in ('t', 'true', 'f', 'false', 'y', 'yes', 'n', 'no', 'on', 'off', '1', '0')`;
  return null;
}

export async function loadTargetRules(target: Sql, table: string, plan: ColumnPlan, columns: string[]): Promise<TargetRules> {
  const info = new Map<string, ColumnInfo>((await tableColumns(target, 'public', table)).map((c) => [c.name, c]));
  const [version] = await target<{ v: number }[]>`select current_setting('server_version_num')::int as v`;
  const pg16 = version!.v >= 160000;
  const checks = await target<{ name: string; def: string; cols: string[] }[]>`
    select c.conname as name, pg_get_constraintdef(c.oid) as def,
      array(select a.attname::text from pg_attribute a where a.attrelid = c.conrelid and a.attnum = any(c.conkey) order by a.attnum) as cols
    from pg_constraint c where c.conrelid = ${`public.${table}`}::regclass and c.contype = 'c' order by c.conname`;
  const problems = new Map<string, Problem>();
  const bad: string[] = [];
  const typeGuards: string[] = [];
  const parseJson: string[] = [];
  const add = (key: string, cond: string, p: Problem) => {
    problems.set(key, p);
    bad.push(`case when ${cond} then ${quoteLiteral(key)} end`);
  };
  for (const name of columns) {
    const col = info.get(name);
    if (!col) continue;
    const j = `(e.j -> ${quoteLiteral(name)})`;
    const t = `(e.j ->> ${quoteLiteral(name)})`;
    const mapped = plan.mapped.find((m) => m.target === name);
    if (col.notNull) {
      add(`notnull:${name}`, `${j} is null or json_typeof(${j}) = 'null'`, {
        column: name,
        problem: 'NULL into NOT NULL',
        message: `null value in column "${name}" of relation "${table}" violates not-null constraint`,
      });
    }
    const retyped = mapped && (mapped.sourceType !== col.type || plan.transforms[name]?.values !== undefined);
    if (retyped && (col.type === 'json' || col.type === 'jsonb') && TEXTUAL.test(mapped.sourceType)) parseJson.push(name);
    else if (retyped && !(col.type === 'jsonb' || col.type === 'json' || col.type.endsWith('[]'))) {
      const invalid = invalidAs(t, col.type, pg16);
      if (invalid) {
        typeGuards.push(`(${t} is null or not (${invalid}))`);
        add(`type:${name}`, `${t} is not null and ${invalid}`, { column: name, problem: `not a valid ${col.type}`, message: `invalid input for column "${name}" of type ${col.type}` });
      }
    }
    if (col.type === 'jsonb' && mapped?.sourceType === 'json') {
      add(`nul:${name}`, `strpos(${j}::text, '\\u0000') > 0`, { column: name, problem: 'JSON holding \\u0000 (jsonb cannot)', message: `unsupported Unicode escape sequence in column "${name}"` });
    }
    const length = /^character(?: varying)?\((\d+)\)$/.exec(col.type);
    if (length) {
      add(`length:${name}`, `char_length(${t}) > ${length[1]}`, { column: name, problem: `longer than ${col.type}`, message: `value too long for type ${col.type} (column "${name}")` });
    }
  }
  // CHECK constraints, on the row as json_populate_record types it: one typed record per row
  // for all of them, made only when the row's values are valid for their types.
  const exprs = checks.map((c) => c.def.replace(/^CHECK /, '').replace(/ NOT VALID$/, ''));
  checks.forEach((c, i) => {
    add(`check:${c.name}`, `not coalesce(c.ok[${i + 1}], true)`, {
      column: c.cols.join(', ') || '(row)',
      problem: `check ${c.name}`,
      message: `new row for relation "${table}" violates check constraint "${c.name}"`,
    });
  });
  // (CASE evaluates the typed record only when the guard holds: an invalid value never raises.)
  const record = `(select array[${exprs.map((x) => `(${x})`).join(', ')}] from json_populate_record(null::${ident(table)}, e.j) as ${ident(table)})`;
  const typed = exprs.length ? `cross join lateral (select case when ${typeGuards.length ? typeGuards.join(' and ') : 'true'} then ${record} end as ok) c` : '';
  const list = bad.length ? `array_remove(array[${bad.join(', ')}], null)` : `'{}'::text[]`;
  const query = `select i, id, bad from (
      select (e.n - 1)::int as i, coalesce(e.j ->> '__source_id', e.j ->> 'id') as id, ${list} as bad
      from json_array_elements($1::text::json) with ordinality e(j, n) ${typed}) q
    where cardinality(bad) > 0`;
  return { table, columns, query, problems, parseJson };
}

/** The rows of a batch (JSON texts) that offbase would refuse, with why. */
export async function findRefusals(target: Sql, rules: TargetRules, rows: string[]): Promise<RowRefusal[]> {
  if (rows.length === 0) return [];
  const found = await target.unsafe<{ i: number; id: string; bad: string[] }[]>(rules.query, [`[${rows.join(',')}]`]);
  const out = new Map<number, RowRefusal>(found.map((r) => [r.i, { index: r.i, id: r.id, problems: r.bad.map((k) => rules.problems.get(k)!) }]));
  // Text that should become JSON: PostgreSQL 15 cannot test it without an error, so it is parsed here.
  if (rules.parseJson.length) {
    rows.forEach((text, index) => {
      const row = JSON.parse(text) as Record<string, unknown>;
      for (const name of rules.parseJson) {
        const v = row[name];
        if (typeof v !== 'string') continue;
        try {
          JSON.parse(v);
        } catch {
          const r = out.get(index) ?? { index, id: String(row.__source_id ?? row.id), problems: [] };
          r.problems.push({ column: name, problem: 'not valid JSON', message: `invalid input syntax for type json (column "${name}")` });
          out.set(index, r);
        }
      }
    });
  }
  return [...out.values()].sort((a, b) => a.index - b.index);
}

const EXAMPLES = 5;

export interface RefusalSummary {
  column: string;
  problem: string;
  count: number;
  /** up to five source ids. */
  examples: string[];
}

/** Per column and problem: how many rows, and a few ids. */
export function tallyRefusals(into: Map<string, RefusalSummary>, refusals: RowRefusal[]): void {
  for (const r of refusals) {
    for (const p of r.problems) {
      const key = `${p.column}\u0000${p.problem}`;
      const s = into.get(key) ?? { column: p.column, problem: p.problem, count: 0, examples: [] };
      s.count++;
      if (s.examples.length < EXAMPLES) s.examples.push(r.id);
      into.set(key, s);
    }
  }
}
