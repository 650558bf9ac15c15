// `npm audit` of the production dependencies: fails on a high or critical advisory. When the advisory
// endpoint cannot be reached (an offline mirror), it says so and does not fail: that is a gap to report,
// not a vulnerability.
import { spawnSync } from 'node:child_process';

const r = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8' });
let report;
try {
  report = JSON.parse(r.stdout || '{}');
} catch {
  report = {};
}
if (report.error || !report.metadata) {
  const why = [report.error?.code, report.error?.summary, ...(r.stderr || '').split('\n').filter((l) => /\d{3} |error/i.test(l) && !l.includes('nodedir'))]
    .filter(Boolean)
    .join('; ')
    .slice(0, 200);
  console.log(`audit: advisory endpoint unavailable, production dependencies NOT audited (${String(why).trim()})`);
  process.exit(0);
}
const v = report.metadata.vulnerabilities ?? {};
const bad = (v.high ?? 0) + (v.critical ?? 0);
console.log(`audit: production dependencies: ${v.critical ?? 0} critical, ${v.high ?? 0} high, ${v.moderate ?? 0} moderate, ${v.low ?? 0} low`);
process.exit(bad > 0 ? 1 : 0);
