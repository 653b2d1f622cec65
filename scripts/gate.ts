// Entry point of `npm run gate`: everything lives in harness/gate/gate.ts.
import { main } from '../harness/gate/gate.ts';

process.exitCode = await main(process.argv.slice(2));
