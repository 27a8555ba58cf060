import { missingForPostgres, missingForRedis, missingForZooKeeper } from '@halfopen/testkit';

// The integration tier starts real servers; without them it fails here, loudly.
export default function setup(): void {
  const missing = [...missingForZooKeeper(), ...missingForRedis(), ...missingForPostgres()];
  if (missing.length > 0) {
    throw new Error(
      `The integration tier cannot run on this machine. Missing: ${missing.join('; ')}. Run scripts/setup-system.sh (as root) first.`,
    );
  }
}
