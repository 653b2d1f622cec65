// Entry point of `npm run merge -- DIR…`: the command line is harness/merge-cli.ts.
import { main } from '../harness/merge-cli.ts';

process.exitCode = main(process.argv.slice(2));
