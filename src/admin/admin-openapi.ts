/** Shared bits of the admin routes' OpenAPI declarations. */
export const adminRoute = { tags: ['admin'], security: [{ adminToken: [] }] };

export const json = <T>(schema: T) => ({ content: { 'application/json': { schema } } });
