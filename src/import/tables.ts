import { getTableName } from 'drizzle-orm';
import { builtinResources } from '../features/builtin-resources.js';
import type { Resource } from '../resources/index.js';
import { ImportError } from './source.js';

// The data tables the importer copies, derived from the resource declarations (the built-in
// ones of src/features/builtin-resources.ts plus any passed in, as buildApp takes them): the Drizzle table's name, its id type,
// the owner column (its rows need an imported user) and the parent key (its rows need an
// imported parent). audit_logs is no resource: it is declared here by hand.

export interface ImportTable {
  /** offbase's table (public.<name>), also the name in --only and the mapping file. */
  name: string;
  /** SQL type of id: uuid, bigint, integer... */
  idType: string;
  /** offbase column → table that must hold the referenced id ('users' for the owner). */
  parents: Record<string, string>;
  /** offbase columns the importer never writes, with why (generated columns are found in the database). */
  managed: Record<string, string>;
}

/** Columns kept by offbase itself on built-in tables (triggers), beyond generated ones. */
const MANAGED: Record<string, Record<string, string>> = {
  documents: { search: 'generated column', analysis_count: 'kept by the analyses trigger' },
};

const columnName = (r: Resource, key: string) => r.allColumns[key]!.name;

/** The import entry of one declared owned table. */
export function importTableOf(resource: Resource): ImportTable {
  const name = getTableName(resource.table);
  const parents: Record<string, string> = { [resource.ownerColumn.name]: 'users' };
  if (resource.parent) parents[columnName(resource, resource.parent.key)] = getTableName(resource.parent.resource.table);
  return { name, idType: resource.idColumn.getSQLType(), parents, managed: MANAGED[name] ?? {} };
}

const AUDIT_LOGS: ImportTable = { name: 'audit_logs', idType: 'bigint', parents: {}, managed: {} };

/**
 * Every importable data table, in copy order (a parent before its children): the built-in
 * resources, the extra ones, then audit_logs.
 */
export function importTables(extra: readonly Resource[] = []): ImportTable[] {
  const tables: ImportTable[] = [];
  for (const r of [...builtinResources, ...extra]) {
    const t = importTableOf(r);
    // users, sessions and mfa are the report's own entries besides the data tables.
    if (['users', 'sessions', 'mfa'].includes(t.name)) throw new ImportError(`resource ${r.name}: table ${t.name} cannot be imported as a data table`);
    if (t.name === AUDIT_LOGS.name || tables.some((x) => x.name === t.name)) throw new ImportError(`resource ${r.name}: table ${t.name} is declared twice`);
    tables.push(t);
  }
  tables.push(AUDIT_LOGS);
  // A child declared before its parent moves after it.
  const ordered: ImportTable[] = [];
  const place = (t: ImportTable, seen: Set<string>) => {
    if (ordered.includes(t)) return;
    if (seen.has(t.name)) throw new ImportError(`table ${t.name}: its parents form a cycle`);
    seen.add(t.name);
    for (const p of Object.values(t.parents)) {
      const parent = tables.find((x) => x.name === p);
      if (parent) place(parent, seen);
      else if (p !== 'users') throw new ImportError(`table ${t.name}: parent table ${p} is not declared`);
    }
    ordered.push(t);
  };
  for (const t of tables) place(t, new Set());
  return ordered;
}

/** The names --only accepts: users and every data table. */
export const tableNames = (tables: readonly ImportTable[]) => ['users', ...tables.map((t) => t.name)];
