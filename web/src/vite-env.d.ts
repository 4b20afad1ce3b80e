/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** '1' only in the browser tests' build (test/e2e/build-web.ts): the test handle is in it. */
  readonly VITE_TEST_HANDLE?: string;
}
