import { DEFAULTS, DOCTOR_USAGE, netnsPath, parseDoctorArgs } from "./options";
import { FINDINGS } from "./finding";

describe("parseDoctorArgs", () => {
  test("defaults: this namespace, the runtime's usual directories", () => {
    expect(parseDoctorArgs([])).toEqual({ confDir: DEFAULTS.confDir, binDirs: [DEFAULTS.binDir], cacheDir: DEFAULTS.cacheDir, pods: [], json: false, help: false });
  });

  test("a namespace by name is under /run/netns; a path stays a path", () => {
    const o = parseDoctorArgs(["--netns", "lab-node", "--pod", "/var/run/netns/cni-1234", "--pod", "pod-a", "--probe", "pod-a", "/proc/42/ns/net", "--json"]);
    expect(o).toMatchObject({ netns: "/run/netns/lab-node", pods: ["/var/run/netns/cni-1234", "/run/netns/pod-a"], probe: ["/run/netns/pod-a", "/proc/42/ns/net"], json: true });
  });

  test("--bin-dir is repeatable and takes a PATH-like list, as CNI_PATH", () => {
    expect(parseDoctorArgs(["--bin-dir", "/opt/cni/bin:/usr/lib/cni", "--bin-dir", "/x"]).binDirs).toEqual(["/opt/cni/bin", "/usr/lib/cni", "/x"]);
  });

  test.each([
    [["--conf-dir", "etc/cni"], /absolute path/],
    [["--netns", "../etc"], /neither a path nor a network namespace name/],
    [["--netns", "a b"], /neither a path/],
    [["--pod", "/run/netns/a\nb"], /control characters/],
    [["--probe", "a"], /--probe needs a value/],
    [["--frobnicate"], /unknown argument/],
  ])("%j is refused", (args, why) => {
    expect(() => parseDoctorArgs(args)).toThrow(why);
  });

  test("netnsPath refuses what is neither", () => {
    expect(netnsPath("/run/netns/x")).toBe("/run/netns/x");
    expect(() => netnsPath("..")).toThrow();
  });

  test("the usage lists every finding id", () => {
    for (const id of Object.keys(FINDINGS)) expect(DOCTOR_USAGE).toContain(id);
  });
});
