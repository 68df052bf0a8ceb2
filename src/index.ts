export * from './errors.js';
export type * from './protocol/types.js';
export type * from './brokers/types.js';
export type * from './backends/types.js';
