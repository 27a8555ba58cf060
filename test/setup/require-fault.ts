import { missingForNetns } from '@halfopen/testkit';

// The fault tier needs real kernel TCP in network namespaces; without them it fails here,
// loudly, instead of passing by skipping.
export default function setup(): void {
  const missing = missingForNetns();
  if (missing.length > 0) {
    throw new Error(
      `The fault tier cannot run on this machine. Missing: ${missing.join('; ')}. Run .ci/run (as root) or scripts/setup-system.sh first.`,
    );
  }
}
