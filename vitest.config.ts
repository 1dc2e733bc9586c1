import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // What the tests need from outside npm, prepared by the tests themselves (no apt install).
    globalSetup: ['tests/setup/vulkan.ts', 'tests/setup/chromium.ts', 'tests/setup/tensorflow.ts'],
    // Integration tests start real processes; two files at a time suits a 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 180_000,
    hookTimeout: 60_000,
  },
});
