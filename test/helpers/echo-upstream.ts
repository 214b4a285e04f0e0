/** The echo upstream lives with the demo, which runs it outside the test suite too. */
export * from '../../scripts/echo-upstream.js';
