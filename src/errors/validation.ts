import type { FastifySchemaValidationError } from 'fastify';

// One reading of a JSON Schema validation error (Ajv's, as Fastify's validation and
// request.compileValidationSchema report it): which field it is about, and what to say.

export interface IssueField {
  /** The instance path as segments ("/a/b" → ["a", "b"]); empty for the root. */
  path: string[];
  /** The property the error names below that path: the missing or the unexpected one. */
  property?: string;
  missing: boolean;
  /** What to tell the client about the field. */
  message: string;
}

/** What an issue needs to be read: Fastify's validation errors and Ajv's alike. */
type Issue = Pick<FastifySchemaValidationError, 'instancePath' | 'params' | 'message'>;

export function issueField(issue: Issue | undefined): IssueField {
  const params = (issue?.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
  const extra = params.additionalProperty;
  return {
    path: (issue?.instancePath ?? '').split('/').slice(1),
    property: params.missingProperty ?? extra,
    missing: params.missingProperty !== undefined,
    message: extra ? 'is not an allowed field' : (issue?.message ?? 'is invalid'),
  };
}

/** The dotted name of the field an issue is about ("a.b.missing"); '' for the root itself. */
export function fieldName(issue: Issue | undefined): string {
  const { path, property } = issueField(issue);
  return [path.join('.'), property].filter(Boolean).join('.');
}
