// Entry point of `npm run merge -- DIR…`: everything lives in harness/merge.ts.
import { main } from '../harness/merge.ts';

process.exitCode = main(process.argv.slice(2));
