export { createClient, QuotagateClient, type CallOptions, type ClientOptions, type DecisionOptions } from './client.js';
export { isQuotagateError, QuotagateError, type ErrorCode } from './errors.js';
export type * from './types.js';
