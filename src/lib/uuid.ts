const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a syntactically valid UUID: check before a uuid column sees untrusted input. */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);
