// Entry point of `npm run bench`: everything lives in harness/cli.ts.
import { main } from '../harness/cli.ts';

process.exitCode = await main(process.argv.slice(2));
