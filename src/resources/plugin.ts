import fp from 'fastify-plugin';
import { ResourceRegistry, type Resource } from './define.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Every resource the app serves (built-in and buildApp's `resources`), by name. */
    resources: ResourceRegistry;
  }
}

export interface ResourcesPluginOptions {
  resources: Resource[];
}

/** Decorates the app with its resource registry; /rest/v1 and the generated /api/v1 routes read it. */
export default fp<ResourcesPluginOptions>(
  async (app, { resources }) => {
    app.decorate('resources', new ResourceRegistry(resources));
  },
  { name: 'resources' },
);
