import { createResultBackend } from '../../src/backends/index.js';
import type { KeyValueResultBackend } from '../../src/backends/keyvalue.js';
import { backendConformance } from '../conformance/backend.suite.js';

export const REDIS_BACKEND_URL = process.env.CELERIAC_TEST_REDIS_BACKEND_URL ?? 'redis://127.0.0.1:6379/1';

backendConformance(
  'redis',
  async (options) => {
    const backend = createResultBackend(REDIS_BACKEND_URL, options);
    await backend.connect();
    return backend;
  },
  { rawGet: async (backend, key) => (await (backend as KeyValueResultBackend).getStore()).get(key), nativeExpiry: true },
);
