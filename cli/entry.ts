import { main } from "./main";
import { failureLine } from "./failure";

// The only module with a side effect: everything else is functions, so start-up does no work.
// Whatever escapes is reported in one line without its stack (unless PATCHCORD_TRACE asks for it):
// a plugin's input is its caller's, and a stack only says where our code broke.
const fatal = (e: unknown) => {
  console.error(failureLine("patchcord", e, process.env));
  process.exit(1);
};
process.on("uncaughtException", fatal);
process.on("unhandledRejection", fatal);
main(process.argv0, process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(failureLine("patchcord", e, process.env));
    process.exitCode = 1;
  },
);
