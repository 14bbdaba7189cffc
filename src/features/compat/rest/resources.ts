import { ResourceRegistry, type Resource } from '../../../resources/index.js';
import { analysesResource } from '../../analyses/analyses.resource.js';
import { documentsResource } from '../../documents/documents.resource.js';

// The resources offbase itself declares. /rest/v1 serves whatever the app registered (these
// plus buildApp's `resources` option); nothing in compat knows a table by name.

export const RESOURCES: { documents: Resource; analyses: Resource } = { documents: documentsResource, analyses: analysesResource };

/** The built-in resources alone (what pure resolution works against when no app is given). */
export const BUILT_IN = new ResourceRegistry(Object.values(RESOURCES));
