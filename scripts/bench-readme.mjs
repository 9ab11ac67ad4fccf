// Puts a `kbs bench --out` Markdown table into README.md's "Performance" section,
// between the bench markers, so the README shows what the bench measured here.
// usage: node scripts/bench-readme.mjs bench-out/bench.md
import fs from "node:fs";

const [table] = process.argv.slice(2);
if (!table) {
  console.error("usage: node scripts/bench-readme.mjs <kbs bench --out FILE>.md");
  process.exit(2);
}
const start = "<!-- bench:start -->";
const end = "<!-- bench:end -->";
const readme = fs.readFileSync("README.md", "utf8");
const a = readme.indexOf(start);
const b = readme.indexOf(end);
if (a < 0 || b < a) {
  console.error(`README.md has no ${start} ... ${end} block (in the "Performance" section)`);
  process.exit(1);
}
const body = fs.readFileSync(table, "utf8").trim();
fs.writeFileSync("README.md", `${readme.slice(0, a + start.length)}\n${body}\n${readme.slice(b)}`);
console.log(`README.md: Performance table replaced from ${table}`);
