import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // What the tests need from outside npm, prepared by the tests themselves (no apt install).
    globalSetup: ['tests/setup/vulkan.ts', 'tests/setup/chromium.ts', 'tests/setup/tensorflow.ts'],
    // The suite's other tests keep the engines their timing budgets were set for; the tensorflow
    // tests turn the native engine back on (tests/helpers/tensorflow.ts: TF_ON).
    env: { RT_NO_TENSORFLOW: '1' },
    // Integration tests start real processes; two files at a time suits a 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 180_000,
    hookTimeout: 60_000,
  },
});
