import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // Tests import the source; test/package.test.ts checks the built package separately.
  moduleNameMapper: {
    '^wsgate$': '<rootDir>/src/index.ts',
    '^wsgate/protocol$': '<rootDir>/src/protocol.ts',
    '^wsgate/redis$': '<rootDir>/src/redis.ts',
  },
  testTimeout: 20000,
};

export default config;
