import { main } from "./main";

// The only module with a side effect: everything else is functions, so start-up does no work.
main(process.argv0, process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(`patchcord: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  },
);
