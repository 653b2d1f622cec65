// Entry point of `npm run theory`: everything lives in harness/theory/cli.ts.
import { main } from '../harness/theory/cli.ts';

process.exitCode = await main(process.argv.slice(2));
