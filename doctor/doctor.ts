import { CannotLook } from "./finding";
import { exitCode, inspect } from "./inspect";
import { DOCTOR_USAGE, DoctorOptions, parseDoctorArgs } from "./options";
import { renderJson, renderText } from "./render";

/** `patchcord doctor`: exit 0 nothing wrong, 1 something wrong, 2 could not look (or a usage error). */
export async function runDoctor(args: string[]): Promise<number> {
  let o: DoctorOptions;
  try {
    o = parseDoctorArgs(args);
  } catch (e) {
    console.error(`patchcord doctor: ${(e as Error).message}\n${DOCTOR_USAGE}`);
    return 2;
  }
  if (o.help) {
    console.log(DOCTOR_USAGE);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    console.error("patchcord doctor: needs root (it reads other namespaces, netfilter and the IPAM store)");
    return 2;
  }
  try {
    const report = await inspect(o);
    console.log(o.json ? renderJson(report) : renderText(report).join("\n"));
    return exitCode(report);
  } catch (e) {
    // Whatever stopped it, doctor did not finish looking: 2, never the 1 of "something is wrong".
    const msg = e instanceof CannotLook ? e.message : `${(e as Error).message ?? e} (a doctor bug: please report it)`;
    if (o.json) console.log(JSON.stringify({ findings: [], exitCode: 2, cannot: [msg] }));
    console.error(`patchcord doctor: cannot look: ${msg}`);
    return 2;
  }
}
