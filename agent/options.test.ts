import { DEFAULTS, parseAgentArgs, type AgentOptions, type ParsedArgs } from "./options";

const host = () => "Worker-1";
const run = (args: string[], env: NodeJS.ProcessEnv = {}): AgentOptions => {
  const p = parseAgentArgs(args, env, host);
  if (p.command !== "run") throw new Error(`expected run, got ${JSON.stringify(p)}`);
  return p.options;
};
const error = (args: string[], env: NodeJS.ProcessEnv = {}): string => {
  const p: ParsedArgs = parseAgentArgs(args, env, host);
  if (p.command !== "error") throw new Error(`expected an error, got ${JSON.stringify(p)}`);
  return p.message;
};

describe("defaults", () => {
  test("a real node's directories, resync 30 s, health on localhost:9790, veth-routed, masquerade on", () => {
    expect(run([])).toEqual({
      cniBinDir: "/opt/cni/bin",
      cniConfDir: "/etc/cni/net.d",
      ipamDataDir: "/run/patchcord/ipam",
      kubeconfig: undefined,
      nodeName: "worker-1", // kubelet's default: the host name, lowercased
      resyncSeconds: 30,
      health: { host: "127.0.0.1", port: 9790 },
      mode: "veth-routed",
      mtu: 0,
      masquerade: true,
      clusterCIDRs: [],
      apiServer: undefined,
      socket: "/run/patchcord/cni.sock",
    });
    expect(DEFAULTS.ipamDataDir.startsWith("/run/")).toBe(true);
  });

  test("empty variables count as unset (a blank ConfigMap key)", () => {
    expect(run([], { PATCHCORD_MTU: "", PATCHCORD_MODE: " ", NODE_NAME: "", PATCHCORD_CLUSTER_CIDRS: "" })).toMatchObject({ mtu: 0, mode: "veth-routed", nodeName: "worker-1", clusterCIDRs: [] });
  });
});

describe("flags and their variables", () => {
  const env = {
    KUBECONFIG: "/etc/kube/config",
    NODE_NAME: "node-a",
    CNI_BIN_DIR: "/env/bin",
    CNI_CONF_DIR: "/env/conf",
    PATCHCORD_IPAM_DATA_DIR: "/env/ipam",
    PATCHCORD_RESYNC: "5",
    PATCHCORD_HEALTH_ADDR: "0.0.0.0:8081",
    PATCHCORD_MODE: "bridge",
    PATCHCORD_MTU: "1400",
    PATCHCORD_MASQUERADE: "FALSE",
    PATCHCORD_CLUSTER_CIDRS: "10.96.0.0/12, fd00:10:96::/112",
    PATCHCORD_API_SERVER: "https://kind-control-plane:6443/",
    PATCHCORD_SOCKET: "/env/cni.sock",
  };

  test("every setting from the environment", () => {
    expect(run([], env)).toEqual({
      kubeconfig: "/etc/kube/config",
      nodeName: "node-a",
      cniBinDir: "/env/bin",
      cniConfDir: "/env/conf",
      ipamDataDir: "/env/ipam",
      resyncSeconds: 5,
      health: { host: "0.0.0.0", port: 8081 },
      mode: "bridge",
      mtu: 1400,
      masquerade: false,
      clusterCIDRs: ["10.96.0.0/12", "fd00:10:96::/112"],
      apiServer: "https://kind-control-plane:6443",
      socket: "/env/cni.sock",
    });
  });

  test("--socket none: an agent that serves no CNI calls", () => {
    expect(run(["--socket", "none"], env).socket).toBeUndefined();
    expect(run(["--socket=/tmp/a.sock"], env).socket).toBe("/tmp/a.sock");
  });

  test("a flag wins over its variable; --flag=value works too", () => {
    const o = run(
      ["--kubeconfig", "/k", "--node-name=node-b", "--cni-bin-dir", "/b/", "--cni-conf-dir=/c", "--ipam-data-dir", "/i", "--resync", "0.5", "--health-addr", "[::1]:0"],
      env,
    );
    expect(o).toMatchObject({ kubeconfig: "/k", nodeName: "node-b", cniBinDir: "/b", cniConfDir: "/c", ipamDataDir: "/i", resyncSeconds: 0.5, health: { host: "::1", port: 0 } });
  });

  test("an API endpoint without a scheme (kind's CONTROL_PLANE_ENDPOINT style) is https", () => {
    expect(run([], { PATCHCORD_API_SERVER: "kind-control-plane:6443" }).apiServer).toBe("https://kind-control-plane:6443");
  });

  test("masquerade true/false in any case", () => {
    expect(run([], { PATCHCORD_MASQUERADE: "True" }).masquerade).toBe(true);
    expect(run([], { PATCHCORD_MASQUERADE: "false" }).masquerade).toBe(false);
  });
});

describe("validation: the message names the setting and the value", () => {
  test.each([
    [["--bogus"], {}, /unknown flag --bogus/],
    [["stray"], {}, /unexpected argument "stray"/],
    [["--node-name"], {}, /--node-name needs a value/],
    [["--node-name", "Node_1"], {}, /--node-name "Node_1": not a valid node name/],
    [[], { NODE_NAME: "-a" }, /NODE_NAME "-a"/],
    [["--cni-bin-dir", "opt/cni"], {}, /--cni-bin-dir "opt\/cni" must be an absolute path/],
    [[], { CNI_CONF_DIR: "/etc/../x" }, /CNI_CONF_DIR .* contains a \.\. component/],
    [["--resync", "0"], {}, /between 0\.1 and 86400/],
    [["--resync", "1m"], {}, /--resync "1m": not a number of seconds/],
    [[], { PATCHCORD_RESYNC: "-3" }, /PATCHCORD_RESYNC/],
    [["--health-addr", "9790"], {}, /expected HOST:PORT/],
    [["--health-addr", "localhost:70000"], {}, /port out of range/],
    [["--health-addr", "::1:9790"], {}, /IPv6 in brackets/],
    [[], { PATCHCORD_MODE: "ptp" }, /PATCHCORD_MODE "ptp": expected veth-routed or bridge/],
    [[], { PATCHCORD_MTU: "9k" }, /PATCHCORD_MTU "9k": not a whole number/],
    [[], { PATCHCORD_MTU: "100" }, /576\.\.65535/],
    [[], { PATCHCORD_MTU: "70000" }, /576\.\.65535/],
    [[], { PATCHCORD_MASQUERADE: "yes" }, /expected true or false/],
    [["--socket", "cni.sock"], {}, /--socket "cni.sock": must be an absolute path/],
    [[], { PATCHCORD_SOCKET: `/${"s".repeat(120)}` }, /PATCHCORD_SOCKET .* longer than a Unix socket path/],
    [[], { PATCHCORD_CLUSTER_CIDRS: "10.0.0.0/8,nonsense" }, /"nonsense" is not a CIDR/],
    [[], { PATCHCORD_CLUSTER_CIDRS: "10.244.1.1/16" }, /host bits set \(the network is 10\.244\.0\.0\/16\)/],
    [[], { PATCHCORD_API_SERVER: "ftp://x" }, /expected an https:\/\/ URL/],
    [[], { PATCHCORD_API_SERVER: "https://x:6443/?a=b" }, /scheme:\/\/host\[:port\] only/],
    [[], { KUBECONFIG: "/a:/b" }, /one file, not a list/],
  ])("%j %j", (args, env, message) => {
    expect(error(args as string[], env as NodeJS.ProcessEnv)).toMatch(message);
  });
});

describe("help and uninstall", () => {
  test("--help, -h and help ask for the usage", () => {
    for (const a of ["--help", "-h", "help"]) expect(parseAgentArgs([a], {}).command).toBe("help");
    expect(parseAgentArgs(["uninstall", "--help"], {}).command).toBe("help");
  });

  test("uninstall takes the directory flags and variables, nothing else", () => {
    expect(parseAgentArgs(["uninstall", "--cni-bin-dir", "/b"], { CNI_CONF_DIR: "/c" })).toEqual({
      command: "uninstall",
      options: { cniBinDir: "/b", cniConfDir: "/c", ipamDataDir: "/run/patchcord/ipam" },
    });
    expect(parseAgentArgs(["uninstall", "--resync", "3"], {})).toEqual({ command: "error", message: expect.stringMatching(/unknown flag --resync for agent uninstall/) });
    // A bad value in the agent's other settings does not stop an uninstall.
    expect(parseAgentArgs(["uninstall"], { PATCHCORD_MODE: "nonsense" }).command).toBe("uninstall");
  });
});
