// Entry point of `npm run compare`: everything lives in harness/compare.ts.
import { main } from '../harness/compare.ts';

process.exitCode = await main(process.argv.slice(2));
