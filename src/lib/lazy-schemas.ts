import { AjvCompiler } from '@fastify/ajv-compiler';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { FastifyServerOptions } from 'fastify';

// Fastify compiles every route's validators (Ajv) and response serializers
// (fast-json-stringify) while the app starts: about half of the compiled API's boot CPU
// (docs/benchmarks.md, "Boot"). These are Fastify's own compilers, unchanged, each route part
// compiled the first time a request needs it; `compileAll` (app.compileSchemas) compiles the
// rest now, so a test can prove every schema builds.

type Factories = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;
type ValidatorFactory = NonNullable<Factories['buildValidator']>;
type SerializerFactory = NonNullable<Factories['buildSerializer']>;
type Validate = ReturnType<ReturnType<ValidatorFactory>>;

/**
 * Fastify lower-cases a headers schema's property names (Node lower-cases the request's) only
 * for its default compiler; a compilers factory counts as custom, so it is done here. Our
 * headers schemas are flat objects.
 */
function lowerCaseHeaders<S>(schema: S): S {
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return schema;
  const s = schema as { properties?: Record<string, unknown>; required?: unknown };
  return {
    ...s,
    ...(s.properties ? { properties: Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k.toLowerCase(), v])) } : {}),
    ...(Array.isArray(s.required) ? { required: s.required.map((k: unknown) => (typeof k === 'string' ? k.toLowerCase() : k)) } : {}),
  } as S;
}

/** Ajv's error for the first value of `data` (an object of values, or arrays of them) that is a number but not finite; null when there is none. */
function notFinite(data: unknown): { instancePath: string; schemaPath: string; keyword: string; params: Record<string, unknown>; message: string }[] | null {
  if (!data || typeof data !== 'object') return null;
  for (const [key, value] of Object.entries(data)) {
    const values: unknown[] = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'number' && !Number.isFinite(v))) {
      return [{ instancePath: `/${key}`, schemaPath: '#/finite', keyword: 'finite', params: {}, message: 'must be a finite number' }];
    }
  }
  return null;
}

export function lazySchemas() {
  const uncompiled = new Set<() => unknown>();
  /** A getter that builds on first call and caches; listed until then. */
  function once<F>(build: () => F): () => F {
    let fn: F | undefined;
    const get = (): F => {
      if (fn === undefined) {
        fn = build();
        uncompiled.delete(get);
      }
      return fn;
    };
    uncompiled.add(get);
    return get;
  }

  const ajv = AjvCompiler();
  const fjs = SerializerSelector();
  const buildValidator: ValidatorFactory = (externalSchemas, options) => {
    const compile = ajv(externalSchemas, options);
    return (route) => {
      const real = once(() => compile(route.httpPart === 'headers' ? { ...route, schema: lowerCaseHeaders(route.schema) } : route));
      // Text coerced to a number (query strings, path parameters, headers) can come out as
      // ±Infinity ("1e309"), which Ajv then lets through `integer` and `maximum` alike; so a
      // part whose values came from text is refused here if any of them is not finite.
      const coerced = route.httpPart === 'querystring' || route.httpPart === 'params' || route.httpPart === 'headers';
      let refused: ReturnType<typeof notFinite> = null;
      const validate = ((data: unknown, dataCxt?: unknown) => {
        refused = null;
        const ok = (real() as (d: unknown, c?: unknown) => unknown)(data, dataCxt);
        if (ok && coerced) refused = notFinite(data);
        return ok && !refused;
      }) as unknown as Validate;
      // Fastify passes the parent object (so Ajv may coerce or default a whole part) only to a
      // function with `schemaEnv`; Ajv leaves a failed call's reasons on `errors`.
      Object.defineProperties(validate, {
        schemaEnv: { get: () => real().schemaEnv },
        errors: { get: () => refused ?? real().errors },
      });
      return validate;
    };
  };
  const buildSerializer: SerializerFactory = (externalSchemas, options) => {
    const compile = fjs(externalSchemas, options);
    return (route) => {
      const real = once(() => compile(route));
      return (doc) => real()(doc);
    };
  };

  return {
    schemaController: { compilersFactory: { buildValidator, buildSerializer } },
    /** Compiles every validator and serializer not compiled yet; throws on one that does not build. */
    compileAll(): void {
      for (const get of [...uncompiled]) get();
    },
  };
}
