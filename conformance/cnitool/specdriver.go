package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
)

// specDriver runs a conflist the way the spec (1.1.0) tells runtimes to: ADD and CHECK in list
// order with the previous result as prevResult, DEL in reverse with the cached final result, GC
// with the cached attachments as `cni.dev/valid-attachments`, STATUS on every plugin. Its cache
// files have libcni's format and place, so libcni and this driver read each other's entries.
type specDriver struct {
	list     *libcni.NetworkConfigList
	path     []string
	cacheDir string
}

type cacheEntry struct {
	Kind           string                 `json:"kind"`
	ContainerID    string                 `json:"containerId"`
	Config         []byte                 `json:"config"`
	IfName         string                 `json:"ifName"`
	NetworkName    string                 `json:"networkName"`
	CniArgs        [][2]string            `json:"cniArgs,omitempty"`
	CapabilityArgs map[string]interface{} `json:"capabilityArgs,omitempty"`
	RawResult      map[string]interface{} `json:"result,omitempty"`
}

func (d *specDriver) cacheFile(rt *libcni.RuntimeConf) string {
	return filepath.Join(d.cacheDir, "results", fmt.Sprintf("%s-%s-%s", d.list.Name, rt.ContainerID, rt.IfName))
}

// pluginConfig is one plugin's stdin: its own keys plus name, cniVersion, runtimeConfig (the
// capabilities it declares) and whatever `extra` adds (prevResult, valid attachments).
func (d *specDriver) pluginConfig(p *libcni.NetworkConfig, capArgs map[string]interface{}, extra map[string]interface{}) ([]byte, error) {
	var conf map[string]interface{}
	if err := json.Unmarshal(p.Bytes, &conf); err != nil {
		return nil, err
	}
	conf["name"] = d.list.Name
	conf["cniVersion"] = d.list.CNIVersion
	rc := map[string]interface{}{}
	for capability, on := range p.Network.Capabilities {
		if v, ok := capArgs[capability]; ok && on {
			rc[capability] = v
		}
	}
	if len(rc) > 0 {
		conf["runtimeConfig"] = rc
	}
	for k, v := range extra {
		conf[k] = v
	}
	return json.Marshal(conf)
}

func (d *specDriver) exec(ctx context.Context, command string, p *libcni.NetworkConfig, rt *libcni.RuntimeConf, stdin []byte) ([]byte, error) {
	binary, err := invoke.FindInPath(p.Network.Type, d.path)
	if err != nil {
		return nil, err
	}
	args := &invoke.Args{Command: command, Path: strings.Join(d.path, string(os.PathListSeparator))}
	if rt != nil {
		args.ContainerID, args.NetNS, args.IfName = rt.ContainerID, rt.NetNS, rt.IfName
		pairs := []string{}
		for _, kv := range rt.Args {
			pairs = append(pairs, kv[0]+"="+kv[1])
		}
		args.PluginArgsStr = strings.Join(pairs, ";")
	}
	return (&invoke.RawExec{Stderr: os.Stderr}).ExecPlugin(ctx, binary, stdin, args.AsEnv())
}

func (d *specDriver) add(ctx context.Context, rt *libcni.RuntimeConf) ([]byte, error) {
	var prev map[string]interface{}
	for _, p := range d.list.Plugins {
		extra := map[string]interface{}{}
		if prev != nil {
			extra["prevResult"] = prev
		}
		stdin, err := d.pluginConfig(p, rt.CapabilityArgs, extra)
		if err != nil {
			return nil, err
		}
		out, err := d.exec(ctx, "ADD", p, rt, stdin)
		if err != nil {
			return nil, err
		}
		prev = map[string]interface{}{}
		if err := json.Unmarshal(out, &prev); err != nil {
			return nil, fmt.Errorf("plugin %s: cannot decode its result: %v", p.Network.Type, err)
		}
	}
	entry := cacheEntry{Kind: libcni.CNICacheV1, ContainerID: rt.ContainerID, Config: d.list.Bytes, IfName: rt.IfName,
		NetworkName: d.list.Name, CniArgs: rt.Args, CapabilityArgs: rt.CapabilityArgs, RawResult: prev}
	b, _ := json.Marshal(entry)
	if err := os.MkdirAll(filepath.Dir(d.cacheFile(rt)), 0700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(d.cacheFile(rt), b, 0600); err != nil {
		return nil, err
	}
	return json.MarshalIndent(prev, "", "    ")
}

func (d *specDriver) cached(rt *libcni.RuntimeConf) map[string]interface{} {
	b, err := os.ReadFile(d.cacheFile(rt))
	if err != nil {
		return nil
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil {
		return nil
	}
	return e.RawResult
}

func (d *specDriver) check(ctx context.Context, rt *libcni.RuntimeConf) error {
	prev := d.cached(rt)
	if prev == nil {
		return fmt.Errorf("no cached result for %s", d.cacheFile(rt))
	}
	for _, p := range d.list.Plugins {
		stdin, err := d.pluginConfig(p, rt.CapabilityArgs, map[string]interface{}{"prevResult": prev})
		if err != nil {
			return err
		}
		if _, err := d.exec(ctx, "CHECK", p, rt, stdin); err != nil {
			return err
		}
	}
	return nil
}

func (d *specDriver) del(ctx context.Context, rt *libcni.RuntimeConf) error {
	prev := d.cached(rt)
	for i := len(d.list.Plugins) - 1; i >= 0; i-- {
		p := d.list.Plugins[i]
		extra := map[string]interface{}{}
		if prev != nil {
			extra["prevResult"] = prev
		}
		stdin, err := d.pluginConfig(p, rt.CapabilityArgs, extra)
		if err != nil {
			return err
		}
		if _, err := d.exec(ctx, "DEL", p, rt, stdin); err != nil {
			return err
		}
	}
	if err := os.Remove(d.cacheFile(rt)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// validAttachments lists the cached attachments of this network, as libcni's GC would.
func (d *specDriver) validAttachments() []map[string]string {
	out := []map[string]string{}
	files, _ := filepath.Glob(filepath.Join(d.cacheDir, "results", d.list.Name+"-*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var e cacheEntry
		if json.Unmarshal(b, &e) != nil || e.NetworkName != d.list.Name {
			continue
		}
		out = append(out, map[string]string{"containerID": e.ContainerID, "ifname": e.IfName})
	}
	return out
}

// gc sends every plugin the cached attachments as the valid ones, continuing past errors.
func (d *specDriver) gc(ctx context.Context) error {
	valid := d.validAttachments()
	var firstErr error
	for _, p := range d.list.Plugins {
		stdin, err := d.pluginConfig(p, nil, map[string]interface{}{"cni.dev/valid-attachments": valid, "cni.dev/attachments": valid})
		if err == nil {
			_, err = d.exec(ctx, "GC", p, nil, stdin)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func (d *specDriver) status(ctx context.Context) error {
	for _, p := range d.list.Plugins {
		stdin, err := d.pluginConfig(p, nil, nil)
		if err != nil {
			return err
		}
		if _, err := d.exec(ctx, "STATUS", p, nil, stdin); err != nil {
			return err
		}
	}
	return nil
}
