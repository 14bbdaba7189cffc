import type { Resource } from '../resources/index.js';
import { analysesResource } from './analyses/analyses.resource.js';
import { documentsResource } from './documents/documents.resource.js';

// The owned tables offbase serves out of the box. The app registers them (plus buildApp's
// `resources`), and import-supabase can import each of them: a table added here is served
// and importable (docs/adding-a-table.md).
export const builtinResources: readonly Resource[] = [documentsResource, analysesResource];
