package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// versionLine is what "mqtt version" prints: the module version that go
// install recorded ("(devel)" for a build from a checkout), the commit when
// the build knows it, and the Go release and platform, which are what a bug
// report needs.
func versionLine() string {
	version, rev := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" && dirty {
			rev += "+modified"
		}
	}
	line := "mqtt " + version
	if rev != "" {
		line += " (" + rev + ")"
	}
	return fmt.Sprintf("%s, github.com/culex-mqtt/mqtt, %s %s/%s\n", line, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
