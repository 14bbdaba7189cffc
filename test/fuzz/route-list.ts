import type { FastifyInstance } from 'fastify';

export interface RouteInfo {
  method: string;
  /** Fastify path, e.g. /api/v1/documents/:id */
  url: string;
  params: string[];
  /** JSON Schemas from the OpenAPI document, when the route has them. */
  query: Record<string, JsonSchema>;
  body: JsonSchema | null;
}

export type JsonSchema = Record<string, unknown>;

/**
 * Every route the app has, read from the app itself (printRoutes), so a route added later
 * is fuzzed without anyone touching this file. Schemas come from the OpenAPI document.
 */
export function enumerateRoutes(app: FastifyInstance): RouteInfo[] {
  const tree = app.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const routes: RouteInfo[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const parent = stack[depth - 1] ?? '';
    const url = (parent + m[2]!).replace(/\/\/+/g, '/');
    stack.push(url);
    for (const method of m[3]?.split(', ') ?? []) {
      routes.push({ method, url, params: [...url.matchAll(/:(\w+)/g)].map((p) => p[1]!), query: {}, body: null });
    }
  }
  const spec = (app as unknown as { swagger?: () => { paths?: Record<string, Record<string, Operation>> } }).swagger?.();
  for (const route of routes) {
    const op = spec?.paths?.[route.url.replace(/:(\w+)/g, '{$1}')]?.[route.method.toLowerCase()];
    if (!op) continue;
    for (const p of op.parameters ?? []) if (p.in === 'query') route.query[p.name] = p.schema ?? {};
    route.body = op.requestBody?.content?.['application/json']?.schema ?? null;
  }
  return routes;
}

interface Operation {
  parameters?: { in: string; name: string; schema?: JsonSchema }[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}
