import { Look, shown, sysctlKey, sysctlPath } from "./look";

test("sysctl names and /proc/sys paths, a dot in a link name included", () => {
  expect(sysctlPath("net.ipv4.conf.eth0/100.rp_filter")).toBe("/proc/sys/net/ipv4/conf/eth0.100/rp_filter");
  expect(sysctlKey("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")).toBe("net.ipv4.conf.eth0/100.rp_filter");
  expect(sysctlKey(sysctlPath("net.ipv6.conf.all.forwarding"))).toBe("net.ipv6.conf.all.forwarding");
});

test("sysctls read with sysctl, and with grep where procps is missing (the image): the same values", async () => {
  const keys = ["net.ipv4.ip_forward", "net.ipv4.conf.lo.rp_filter", "net.ipv4.conf.no-such-link.rp_filter"];
  const look = new Look();
  const withSysctl = await look.sysctls(undefined, keys);
  expect(withSysctl.looked.command).toMatch(/^sysctl /);
  const withGrep = await new Look({ sysctl: false }).sysctls(undefined, keys);
  expect(withGrep.looked.command).toBe("grep -H '^' /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/lo/rp_filter /proc/sys/net/ipv4/conf/no-such-link/rp_filter");
  expect([...withGrep.values]).toEqual([...withSysctl.values]);
  expect([...withGrep.values.keys()]).toEqual(keys.slice(0, 2));
});

test("evidence of a command that printed nothing says so", () => {
  expect(shown({ command: "ip route show dev x", output: "" })).toEqual({ command: "ip route show dev x", output: "(no output)" });
});
