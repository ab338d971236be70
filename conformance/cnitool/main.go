// cnitool for patchcord's conformance suite: cnitool's interface, on libcni, the library real
// runtimes use. libcni 1.1.2 (Debian's) knows spec versions up to 1.0.0, so for a 1.1.0
// conflist, and for GC and STATUS (new in 1.1.0), this driver invokes the plugins itself,
// exactly as the spec describes, and keeps the same result cache libcni keeps.
//
//	cnitool add|check|del NETWORK NETNS_PATH
//	cnitool gc|status NETWORK
//	cnitool version PLUGIN
//
// Environment: NETCONFPATH (conflists, default /etc/cni/net.d), CNI_PATH, CNI_IFNAME (eth0),
// CNI_CONTAINERID (default: derived from the netns path), CNI_ARGS, CAP_ARGS (runtime config as
// JSON), CNI_CACHE_DIR (libcni's result cache, default /var/lib/cni).
// A failure prints {"code": N, "msg": "...", "details": "..."} on stdout and exits 1.
package main

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

const newestLibcniVersion = "1.0.0"

var driverVersions = []string{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}

func fail(err error) {
	out := map[string]interface{}{"code": 999, "msg": err.Error()}
	if e, ok := err.(*types.Error); ok {
		out = map[string]interface{}{"code": e.Code, "msg": e.Msg}
		if e.Details != "" {
			out["details"] = e.Details
		}
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	os.Exit(1)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: cnitool add|check|del NETWORK NETNS_PATH | gc|status NETWORK | version PLUGIN")
	os.Exit(2)
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func cniPath() []string { return filepath.SplitList(os.Getenv("CNI_PATH")) }

func cacheDir() string { return env("CNI_CACHE_DIR", libcni.CacheDir) }

// compareVersions orders dotted versions numerically.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < 3; i++ {
		var x, y int
		if i < len(pa) {
			fmt.Sscan(pa[i], &x)
		}
		if i < len(pb) {
			fmt.Sscan(pb[i], &y)
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// negotiate picks the highest version named by cniVersion or cniVersions that this driver
// and every plugin of the list (by its VERSION answer) support, as the spec asks of runtimes.
func negotiate(ctx context.Context, cfg *libcni.CNIConfig, raw map[string]interface{}, plugins []*libcni.NetworkConfig) (string, error) {
	offered := []string{}
	if v, ok := raw["cniVersion"].(string); ok && v != "" {
		offered = append(offered, v)
	}
	if list, ok := raw["cniVersions"].([]interface{}); ok {
		for _, v := range list {
			if s, ok := v.(string); ok {
				offered = append(offered, s)
			}
		}
	}
	if len(offered) == 0 {
		return "", fmt.Errorf("conflist names no cniVersion")
	}
	if _, ok := raw["cniVersions"]; !ok {
		return offered[0], nil // a single version is used as it is: the plugins judge it
	}
	sort.Slice(offered, func(i, j int) bool { return compareVersions(offered[i], offered[j]) > 0 })
	for _, v := range offered {
		ok := contains(driverVersions, v)
		for _, p := range plugins {
			if !ok {
				break
			}
			info, err := cfg.GetVersionInfo(ctx, p.Network.Type)
			ok = err == nil && contains(info.SupportedVersions(), v)
		}
		if ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("no version in %v is supported by the driver and every plugin", offered)
}

func loadList(ctx context.Context, cfg *libcni.CNIConfig, name string) (*libcni.NetworkConfigList, error) {
	list, err := libcni.LoadConfList(env("NETCONFPATH", "/etc/cni/net.d"), name)
	if err != nil {
		return nil, err
	}
	var raw map[string]interface{}
	if err := json.Unmarshal(list.Bytes, &raw); err != nil {
		return nil, err
	}
	v, err := negotiate(ctx, cfg, raw, list.Plugins)
	if err != nil {
		return nil, err
	}
	list.CNIVersion = v
	return list, nil
}

func runtimeConf(netns string) (*libcni.RuntimeConf, error) {
	rt := &libcni.RuntimeConf{
		ContainerID: env("CNI_CONTAINERID", fmt.Sprintf("cnitool-%x", sha512.Sum512([]byte(netns)))[:28]),
		NetNS:       netns,
		IfName:      env("CNI_IFNAME", "eth0"),
	}
	if args := os.Getenv("CNI_ARGS"); args != "" {
		for _, pair := range strings.Split(args, ";") {
			kv := strings.SplitN(pair, "=", 2)
			if len(kv) != 2 {
				return nil, fmt.Errorf("invalid CNI_ARGS pair %q", pair)
			}
			rt.Args = append(rt.Args, [2]string{kv[0], kv[1]})
		}
	}
	if capArgs := os.Getenv("CAP_ARGS"); capArgs != "" {
		if err := json.Unmarshal([]byte(capArgs), &rt.CapabilityArgs); err != nil {
			return nil, fmt.Errorf("CAP_ARGS: %v", err)
		}
	}
	return rt, nil
}

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	ctx := context.Background()
	cfg := libcni.NewCNIConfigWithCacheDir(cniPath(), cacheDir(), nil)
	command, name := os.Args[1], os.Args[2]
	if command == "version" {
		info, err := cfg.GetVersionInfo(ctx, name)
		if err != nil {
			fail(err)
		}
		b, _ := json.Marshal(map[string]interface{}{"supportedVersions": info.SupportedVersions()})
		fmt.Println(string(b))
		return
	}
	list, err := loadList(ctx, cfg, name)
	if err != nil {
		fail(err)
	}
	own := &specDriver{list: list, path: cniPath(), cacheDir: cacheDir()}
	switch command {
	case "gc":
		if err := own.gc(ctx); err != nil {
			fail(err)
		}
		return
	case "status":
		if err := own.status(ctx); err != nil {
			fail(err)
		}
		return
	case "add", "check", "del":
	default:
		usage()
	}
	if len(os.Args) < 4 {
		usage()
	}
	rt, err := runtimeConf(os.Args[3])
	if err != nil {
		fail(err)
	}
	// libcni handles what it knows; newer versions go through the driver's own implementation.
	useLibcni := compareVersions(list.CNIVersion, newestLibcniVersion) <= 0 && contains(version.All.SupportedVersions(), list.CNIVersion)
	switch command {
	case "add":
		var out []byte
		if useLibcni {
			var result types.Result
			result, err = cfg.AddNetworkList(ctx, list, rt)
			if err == nil {
				out, err = json.MarshalIndent(result, "", "    ")
			}
		} else {
			out, err = own.add(ctx, rt)
		}
		if err != nil {
			fail(err)
		}
		fmt.Println(string(out))
	case "check":
		if useLibcni {
			err = cfg.CheckNetworkList(ctx, list, rt)
		} else {
			err = own.check(ctx, rt)
		}
		if err != nil {
			fail(err)
		}
	case "del":
		if useLibcni {
			err = cfg.DelNetworkList(ctx, list, rt)
		} else {
			err = own.del(ctx, rt)
		}
		if err != nil {
			fail(err)
		}
	}
}

// Make sure invoke is linked for the own driver (kept explicit for readers of this file).
var _ = invoke.FindInPath
