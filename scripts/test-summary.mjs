// Adds up the vitest and Playwright JSON reports into one closing line.
import fs from "node:fs";

const stageFailures = Number(process.argv[2] ?? 0);
let passed = 0;
let failed = stageFailures;
let skipped = 0;
const read = (f) => {
  try {
    return JSON.parse(fs.readFileSync(f, "utf8"));
  } catch {
    return undefined;
  }
};
const v = read("test-results/vitest.json");
if (v) {
  passed += v.numPassedTests ?? 0;
  failed += v.numFailedTests ?? 0;
  skipped += (v.numPendingTests ?? 0) + (v.numTodoTests ?? 0);
} else failed += 1;
const p = read("test-results/playwright.json");
if (p?.stats) {
  passed += (p.stats.expected ?? 0) + (p.stats.flaky ?? 0);
  failed += p.stats.unexpected ?? 0;
  skipped += p.stats.skipped ?? 0;
} else failed += 1;
console.log(`vitest: ${v ? `${v.numPassedTests} passed, ${v.numFailedTests} failed` : "no report"}; playwright: ${p?.stats ? `${p.stats.expected} passed, ${p.stats.unexpected} failed` : "no report"}; failed stages (typecheck/lint): ${stageFailures}`);
console.log(`total: ${passed} passed, ${failed} failed, ${skipped} skipped`);
